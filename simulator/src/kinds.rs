//! `kinds!` declares a family's scenario kinds once: the enum, `ALL`, the snake_case
//! name used on the command line and in labels, `Display` and `FromStr`; an optional
//! `extra { .. }` block declares kinds outside `ALL` (`EXTRA`).

macro_rules! kinds {
    (
        $(#[doc = $edoc:literal])*
        $Enum:ident, family $family:literal {
            $( $(#[doc = $doc:literal])* $Variant:ident => $name:literal ),+ $(,)?
        }
        $( extra {
            $( $(#[doc = $xdoc:literal])* $XVariant:ident => $xname:literal ),+ $(,)?
        } )?
    ) => {
        $(#[doc = $edoc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $Enum {
            $( $(#[doc = $doc])* $Variant, )+
            $( $( $(#[doc = $xdoc])* $XVariant, )+ )?
        }

        impl $Enum {
            pub const ALL: [$Enum; [$(stringify!($Variant)),+].len()] = [$($Enum::$Variant),+];

            /// Kinds that parse and generate but are not in `ALL` (so not in the
            /// standard set, nor in tests that sweep `ALL`).
            pub const EXTRA: &[$Enum] = &[$( $( $Enum::$XVariant, )+ )?];

            pub fn name(self) -> &'static str {
                match self {
                    $( $Enum::$Variant => $name, )+
                    $( $( $Enum::$XVariant => $xname, )+ )?
                }
            }
        }

        impl std::fmt::Display for $Enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.name())
            }
        }

        impl std::str::FromStr for $Enum {
            type Err = $crate::SimError;
            fn from_str(s: &str) -> Result<Self, $crate::SimError> {
                $Enum::ALL.iter().chain($Enum::EXTRA).copied().find(|k| k.name() == s).ok_or_else(|| $crate::SimError::UnknownKind {
                    family: $family,
                    kind: s.into(),
                    known: $Enum::ALL.iter().chain($Enum::EXTRA).map(|k| k.name()).collect::<Vec<_>>().join(", "),
                })
            }
        }
    };
}
pub(crate) use kinds;
