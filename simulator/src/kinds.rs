//! `kinds!` declares a family's scenario kinds once: the enum, `ALL`, the snake_case
//! name used on the command line and in labels, `Display` and `FromStr`.

macro_rules! kinds {
    (
        $(#[doc = $edoc:literal])*
        $Enum:ident, family $family:literal {
            $( $(#[doc = $doc:literal])* $Variant:ident => $name:literal ),+ $(,)?
        }
    ) => {
        $(#[doc = $edoc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $Enum {
            $( $(#[doc = $doc])* $Variant, )+
        }

        impl $Enum {
            pub const ALL: [$Enum; [$(stringify!($Variant)),+].len()] = [$($Enum::$Variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $( $Enum::$Variant => $name, )+
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
                $Enum::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| $crate::SimError::UnknownKind {
                    family: $family,
                    kind: s.into(),
                    known: $Enum::ALL.map(|k| k.name()).join(", "),
                })
            }
        }
    };
}
pub(crate) use kinds;
