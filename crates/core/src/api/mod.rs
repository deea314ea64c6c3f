//! Typed API objects of `platform.kratix.io/v1alpha1` and v1 Secrets, with their defaults.
//!
//! Deserialisation is lenient (absent fields take their defaults, enums accept the empty string as
//! Kratix's controllers do); [`crate::validation`] then names every field that is wrong.

mod any;
mod destination;
mod secret;
mod statestore;
mod work;
mod workplacement;

pub use any::{AnyObject, Resource};
pub use destination::*;
pub use secret::*;
pub use statestore::*;
pub use work::*;
pub use workplacement::*;

/// Defines a string enum with Kratix's spelling, a default for absent or empty values, and an error that
/// lists the accepted values (`must be one of a, b, c`).
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident default $default:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl $name {
            pub const VALUES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            pub fn parse(text: &str) -> Option<Self> {
                if text.is_empty() {
                    return Some($name::$default);
                }
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("must be one of {}", $name::VALUES.join(", ")))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;
