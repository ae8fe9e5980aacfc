//! The field names a `Deserialize` struct reads, asked from serde itself.
//!
//! A derived `Deserialize` for a struct calls `deserialize_struct(name, FIELDS, ..)` with the
//! names of every field it accepts (after `rename`). [`struct_fields`] hands it a deserializer
//! that records them and stops. The add-on uses it to learn at run time whether the
//! configuration has a section (`http`, `history`, `data_dir` come from other modules), and its
//! tests use it to hold the add-on's options schema and the parser to the same fields.

use serde::de::{self, Deserialize, Visitor};

/// The recorder: every `deserialize_*` call other than `deserialize_struct` ends in an error.
struct Fields<'a>(&'a mut Vec<&'static str>);

#[derive(Debug)]
struct Stop;

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field names recorded")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: std::fmt::Display>(_msg: T) -> Self {
        Stop
    }
}

impl<'de> de::Deserializer<'de> for Fields<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _v: V,
    ) -> Result<V::Value, Stop> {
        self.0.extend_from_slice(fields);
        Err(Stop)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// The fields `T` accepts, in declaration order; empty if `T` is not a derived struct.
pub fn struct_fields<'de, T: Deserialize<'de>>() -> Vec<&'static str> {
    let mut out = Vec::new();
    let _ = T::deserialize(Fields(&mut out));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_configuration_sections_are_found() {
        let f = super::struct_fields::<crate::config::Config>();
        assert!(f.contains(&"mqtt") && f.contains(&"inputs"), "{f:?}");
        assert!(!f.contains(&"no_such_section"));
    }
}
