//! The `Row` trait and the `table!` macro that declares a table once: its Rust struct,
//! its column documentation (unit, source) and its Arrow conversion.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;

use crate::schema::Table;

/// Documentation of one column, as it appears in the canonical schema text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSpec {
    pub name: &'static str,
    /// `u32`, `u64`, `i32`, `i64`, `f64`, `bool`, `string` or `timestamp[ns, UTC]`.
    pub type_name: &'static str,
    pub nullable: bool,
    pub unit: &'static str,
    pub source: &'static str,
    pub doc: &'static str,
    /// The schema version that added the column (1: from the start). An older dataset
    /// has no such column: it reads as null, so only nullable columns may be added.
    pub since: u32,
}

/// `since` of a column declared with or without `since N`.
pub const fn since(declared: &[u32]) -> u32 {
    match declared {
        [v] => *v,
        _ => 1,
    }
}

/// The column every table starts with.
pub const COMMON_COLUMNS: [ColumnSpec; 1] = [ColumnSpec {
    name: "ts_ns",
    type_name: "timestamp[ns, UTC]",
    nullable: false,
    unit: "ns since epoch",
    source: "recorder clock (CLOCK_REALTIME) or generator",
    doc: "Event time. Sampled tables share one value per tick.",
    since: 1,
}];

/// Hive partition columns: encoded in the directory path (`host=<h>/date=<d>`), not stored
/// in the files, which is what polars, DuckDB, Spark, DataFusion and pyarrow expect.
pub const PARTITION_COLUMNS: [ColumnSpec; 2] = [
    ColumnSpec {
        name: "host",
        type_name: "string",
        nullable: false,
        unit: "",
        source: "/proc/sys/kernel/hostname",
        doc: "Host the rows were observed on (also in the footer as qbranch.host).",
        since: 1,
    },
    ColumnSpec {
        name: "date",
        type_name: "date",
        nullable: false,
        unit: "YYYY-MM-DD (UTC)",
        source: "ts_ns of the segment's first row",
        doc: "Day the segment starts on; a segment never spans midnight.",
        since: 1,
    },
];

/// One row of a table. Implemented by `table!` only.
pub trait Row: Sized + Clone + std::fmt::Debug + PartialEq {
    const TABLE: Table;
    /// Table-specific columns, after `COMMON_COLUMNS`.
    const COLUMNS: &'static [ColumnSpec];
    fn ts_ns(&self) -> i64;
    fn arrow_schema() -> SchemaRef;
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, arrow::error::ArrowError>;
    /// Rows of a batch; the error names the offending column.
    fn from_batch(batch: &RecordBatch) -> Result<Vec<Self>, String>;
}

pub(crate) fn schema_of(fields: Vec<Field>) -> SchemaRef {
    let mut all = vec![Field::new(
        "ts_ns",
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        false,
    )];
    all.extend(fields);
    Arc::new(Schema::new(all))
}

pub(crate) fn ts_array(ts: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from_iter_values(ts).with_timezone("UTC"))
}

pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("missing column '{name}'"))
}

pub(crate) fn extract_ts(batch: &RecordBatch) -> Result<Vec<i64>, String> {
    let array = column(batch, "ts_ns")?;
    let ts = array
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| {
            format!(
                "column 'ts_ns': expected timestamp[ns], found {}",
                array.data_type()
            )
        })?;
    if ts.null_count() > 0 {
        return Err("column 'ts_ns': nulls in a non-nullable column".into());
    }
    Ok(ts.values().to_vec())
}

/// Declares a table: `table! { /// doc  Name => Table::Variant { /// doc  field: Type = ("unit", "source"), ... } }`.
macro_rules! table {
    (
        $(#[doc = $tdoc:literal])*
        $Row:ident => $table:expr, {
            $( $(#[doc = $doc:literal])+ $field:ident : $ty:ty = ($unit:literal, $source:literal $(, since $since:literal)?) ),+ $(,)?
        }
    ) => {
        $(#[doc = $tdoc])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $Row {
            /// Event time, nanoseconds since the Unix epoch (UTC).
            pub ts_ns: i64,
            $( $(#[doc = $doc])+ pub $field: $ty, )+
        }

        impl $crate::row::Row for $Row {
            const TABLE: $crate::schema::Table = $table;
            const COLUMNS: &'static [$crate::row::ColumnSpec] = &[$(
                $crate::row::ColumnSpec {
                    name: stringify!($field),
                    type_name: <$ty as $crate::cell::Cell>::TYPE_NAME,
                    nullable: <$ty as $crate::cell::Cell>::NULLABLE,
                    unit: $unit,
                    source: $source,
                    doc: concat!($($doc),+),
                    since: $crate::row::since(&[$($since)?]),
                },
            )+];

            fn ts_ns(&self) -> i64 {
                self.ts_ns
            }

            fn arrow_schema() -> arrow::datatypes::SchemaRef {
                static SCHEMA: std::sync::OnceLock<arrow::datatypes::SchemaRef> = std::sync::OnceLock::new();
                SCHEMA.get_or_init(|| $crate::row::schema_of(vec![$(
                    arrow::datatypes::Field::new(
                        stringify!($field),
                        <$ty as $crate::cell::Cell>::data_type(),
                        <$ty as $crate::cell::Cell>::NULLABLE,
                    ),
                )+])).clone()
            }

            fn to_batch(rows: &[Self]) -> Result<arrow::record_batch::RecordBatch, arrow::error::ArrowError> {
                let mut columns: Vec<arrow::array::ArrayRef> =
                    vec![$crate::row::ts_array(rows.iter().map(|r| r.ts_ns))];
                $( columns.push(<$ty as $crate::cell::Cell>::build(rows.iter().map(|r| &r.$field))); )+
                arrow::record_batch::RecordBatch::try_new(Self::arrow_schema(), columns)
            }

            fn from_batch(batch: &arrow::record_batch::RecordBatch) -> Result<Vec<Self>, String> {
                let ts = $crate::row::extract_ts(batch)?.into_iter();
                $(
                    // A column added after the dataset was written reads as null.
                    let added_later = $crate::row::since(&[$($since)?]) > 1
                        && batch.column_by_name(stringify!($field)).is_none();
                    let mut $field = if added_later {
                        Vec::new()
                    } else {
                        <$ty as $crate::cell::Cell>::extract(
                            $crate::row::column(batch, stringify!($field))?.as_ref(),
                        )
                        .map_err(|e| format!("column '{}': {e}", stringify!($field)))?
                    }
                    .into_iter();
                )+
                Ok(ts.map(|ts_ns| Self {
                    ts_ns,
                    // Arrow guarantees equal column lengths within a batch.
                    $( $field: $field.next().unwrap_or_default(), )+
                }).collect())
            }
        }
    };
}
pub(crate) use table;
