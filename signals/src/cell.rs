//! Column value types: how one Rust field type maps to an Arrow column and back.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, StringArray, UInt32Array,
    UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::DataType;

/// A Rust type that can live in a table column.
///
/// `TYPE_NAME` is what the canonical schema text (and hence the schema hash) shows.
pub trait Cell: Sized {
    const TYPE_NAME: &'static str;
    const NULLABLE: bool;
    fn data_type() -> DataType;
    fn build<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef
    where
        Self: 'a;
    /// Values of a column, or a reason why the column does not hold this type.
    fn extract(array: &dyn Array) -> Result<Vec<Self>, String>;
}

fn downcast<'a, A: 'static>(array: &'a dyn Array, want: &str) -> Result<&'a A, String> {
    array
        .as_any()
        .downcast_ref::<A>()
        .ok_or_else(|| format!("expected {want}, found {}", array.data_type()))
}

fn no_nulls(array: &dyn Array) -> Result<(), String> {
    match array.null_count() {
        0 => Ok(()),
        n => Err(format!("{n} nulls in a non-nullable column")),
    }
}

macro_rules! primitive_cell {
    ($ty:ty, $name:literal, $array:ty, $dt:expr) => {
        impl Cell for $ty {
            const TYPE_NAME: &'static str = $name;
            const NULLABLE: bool = false;
            fn data_type() -> DataType {
                $dt
            }
            fn build<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
                Arc::new(<$array>::from_iter_values(values.copied()))
            }
            fn extract(array: &dyn Array) -> Result<Vec<Self>, String> {
                let a = downcast::<$array>(array, $name)?;
                no_nulls(a)?;
                Ok(a.values().to_vec())
            }
        }

        impl Cell for Option<$ty> {
            const TYPE_NAME: &'static str = $name;
            const NULLABLE: bool = true;
            fn data_type() -> DataType {
                $dt
            }
            fn build<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
                Arc::new(values.copied().collect::<$array>())
            }
            fn extract(array: &dyn Array) -> Result<Vec<Self>, String> {
                Ok(downcast::<$array>(array, $name)?.iter().collect())
            }
        }
    };
}

primitive_cell!(u32, "u32", UInt32Array, DataType::UInt32);
primitive_cell!(u64, "u64", UInt64Array, DataType::UInt64);
primitive_cell!(i32, "i32", Int32Array, DataType::Int32);
primitive_cell!(i64, "i64", Int64Array, DataType::Int64);
primitive_cell!(f64, "f64", Float64Array, DataType::Float64);

impl Cell for bool {
    const TYPE_NAME: &'static str = "bool";
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        DataType::Boolean
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(values.map(|v| Some(*v)).collect::<BooleanArray>())
    }
    fn extract(array: &dyn Array) -> Result<Vec<Self>, String> {
        let a = downcast::<BooleanArray>(array, "bool")?;
        no_nulls(a)?;
        Ok(a.values().iter().collect())
    }
}

/// Strings written by other tools (polars writes `Utf8View`, others dictionaries) are
/// cast to plain UTF-8 first; every other type must match exactly.
fn as_utf8(array: &dyn Array) -> Result<ArrayRef, String> {
    match array.data_type() {
        DataType::Utf8 => Ok(arrow::array::make_array(array.to_data())),
        DataType::Utf8View | DataType::LargeUtf8 | DataType::Dictionary(_, _) => {
            cast(&arrow::array::make_array(array.to_data()), &DataType::Utf8)
                .map_err(|e| format!("cannot read {} as string: {e}", array.data_type()))
        }
        other => Err(format!("expected string, found {other}")),
    }
}

impl Cell for String {
    const TYPE_NAME: &'static str = "string";
    const NULLABLE: bool = false;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(StringArray::from_iter_values(values))
    }
    fn extract(array: &dyn Array) -> Result<Vec<Self>, String> {
        let owned = as_utf8(array)?;
        let a = downcast::<StringArray>(owned.as_ref(), "string")?;
        no_nulls(a)?;
        Ok(a.iter().map(|v| v.unwrap_or_default().to_owned()).collect())
    }
}

impl Cell for Option<String> {
    const TYPE_NAME: &'static str = "string";
    const NULLABLE: bool = true;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn build<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(values.map(Option::as_deref).collect::<StringArray>())
    }
    fn extract(array: &dyn Array) -> Result<Vec<Self>, String> {
        let owned = as_utf8(array)?;
        let a = downcast::<StringArray>(owned.as_ref(), "string")?;
        Ok(a.iter().map(|v| v.map(str::to_owned)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T: Cell + Clone + PartialEq + std::fmt::Debug>(values: Vec<T>) {
        let array = T::build(values.iter());
        assert_eq!(array.data_type(), &T::data_type());
        assert_eq!(T::extract(array.as_ref()).unwrap(), values);
    }

    #[test]
    fn every_cell_type_round_trips() {
        round_trip(vec![0u32, 7, u32::MAX]);
        round_trip(vec![Some(1u64), None, Some(u64::MAX)]);
        round_trip(vec![-1i32, 0, i32::MAX]);
        round_trip(vec![Some(-5i64), None]);
        round_trip(vec![0.5f64, f64::MAX]);
        round_trip(vec![Some(1.0f64), None]);
        round_trip(vec![true, false]);
        round_trip(vec!["a".to_string(), String::new(), "ünï".to_string()]);
        round_trip(vec![Some("x".to_string()), None]);
    }

    #[test]
    fn wrong_type_and_nulls_are_reported() {
        let a = <u64 as Cell>::build([1u64].iter());
        let err = <u32 as Cell>::extract(a.as_ref()).unwrap_err();
        assert!(err.contains("expected u32, found UInt64"), "{err}");

        let with_null = <Option<u32> as Cell>::build([Some(1), None].iter());
        let err = <u32 as Cell>::extract(with_null.as_ref()).unwrap_err();
        assert!(err.contains("1 nulls"), "{err}");
    }

    #[test]
    fn view_strings_from_other_writers_are_accepted() {
        let view: ArrayRef = Arc::new(arrow::array::StringViewArray::from(vec!["a", "b"]));
        assert_eq!(
            <String as Cell>::extract(view.as_ref()).unwrap(),
            ["a", "b"]
        );
    }
}
