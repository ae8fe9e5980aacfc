//! A serde deserializer over the [`super::yaml`] tree, driven by the type of each key.
//!
//! String keys (passwords, user names, topics, paths, P1 keys) get the scalar's exact text,
//! whatever it looks like: `007`, `0x1F`, `.5`, `true` and a 20-digit number stay what the user
//! typed. Typed keys parse the text: integers and floats by the YAML 1.2 core schema (YAML
//! 1.2.2 §10.3.2: decimal, `0x` hex, `0o` octal), bools as `true`/`false`. Every error names
//! the key (`inputs[0].port`) and the line, or the environment variable, it came from.

use std::fmt;

use serde::de::{self, DeserializeSeed, Unexpected, Visitor};

use super::scalar::{parse_bool, parse_float, parse_int};
use super::yaml::{self, Entry, Kind, Node, Origin};

/// A deserialization problem; the innermost value that failed gives its key and place.
#[derive(Debug)]
pub(crate) struct DeError {
    pub key: Option<String>,
    pub at: Option<Origin>,
    pub message: String,
}

impl DeError {
    fn locate(mut self, key: &str, at: &Origin) -> Self {
        if self.key.is_none() {
            self.key = Some(key.to_string());
            self.at = Some(at.clone());
        }
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            key: None,
            at: None,
            message: msg.to_string(),
        }
    }
}

type Result<T> = std::result::Result<T, DeError>;

/// Deserializes one node; `path` is its key as the user writes it (`inputs[0].port`).
pub(crate) struct NodeDe<'a> {
    node: &'a Node,
    path: String,
}

impl<'a> NodeDe<'a> {
    pub fn new(node: &'a Node, path: String) -> Self {
        NodeDe { node, path }
    }

    fn scalar(&self) -> Option<(&'a str, bool)> {
        match &self.node.kind {
            Kind::Scalar { text, plain } => Some((text.as_str(), *plain)),
            _ => None,
        }
    }

    fn unexpected(&self) -> Unexpected<'a> {
        match &self.node.kind {
            Kind::Scalar { text, .. } => Unexpected::Str(text),
            Kind::Seq(_) => Unexpected::Seq,
            Kind::Map(_) => Unexpected::Map,
        }
    }

    fn fail<T>(&self, e: DeError) -> Result<T> {
        Err(e.locate(&self.path, &self.node.at))
    }

    fn located<T>(&self, r: Result<T>) -> Result<T> {
        r.map_err(|e| e.locate(&self.path, &self.node.at))
    }

    /// A list or section given in an environment variable is written in YAML flow style
    /// (`[1, 2]`, `{baud: 9600}`); a scalar there is parsed only when such a type is wanted,
    /// so string keys from the environment stay verbatim.
    fn env_tree(&self) -> Result<Option<Node>> {
        match (&self.node.kind, &self.node.at) {
            (Kind::Scalar { text, .. }, Origin::Env(var)) => yaml::parse(text, Some(var))
                .map(Some)
                .or_else(|e| self.fail(de::Error::custom(e.message))),
            _ => Ok(None),
        }
    }
}

macro_rules! integers {
    ($($method:ident: $t:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
            self.integer_any(v, <$t>::MIN as i128, <$t>::MAX as i128)
        }
    )*};
}

impl NodeDe<'_> {
    fn integer_any<'de, V: Visitor<'de>>(self, v: V, min: i128, max: i128) -> Result<V::Value> {
        let Some((text, _)) = self.scalar() else {
            return self.fail(de::Error::invalid_type(self.unexpected(), &v));
        };
        let text = text.trim();
        let r = match parse_int(text) {
            Some(n) if (min..=max).contains(&n) => match u64::try_from(n) {
                Ok(u) => v.visit_u64(u),
                Err(_) => v.visit_i64(n as i64),
            },
            Some(_) => Err(de::Error::custom(format!(
                "`{text}` is out of range: give a whole number from {min} to {max}"
            ))),
            None => Err(de::Error::invalid_type(Unexpected::Str(text), &v)),
        };
        self.located(r)
    }

    fn with_tree<T>(self, f: impl FnOnce(NodeDe<'_>) -> Result<T>) -> Result<T> {
        match self.env_tree()? {
            Some(tree) => f(NodeDe::new(&tree, self.path.clone())),
            None => f(self),
        }
    }
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = match &self.node.kind {
            Kind::Scalar { text, plain: false } => v.visit_str(text),
            Kind::Scalar { text, plain: true } => {
                if self.node.is_null() {
                    v.visit_unit()
                } else if let Some(b) = parse_bool(text) {
                    v.visit_bool(b)
                } else if let Some(n) = parse_int(text) {
                    match (u64::try_from(n), i64::try_from(n)) {
                        (Ok(u), _) => v.visit_u64(u),
                        (_, Ok(i)) => v.visit_i64(i),
                        _ => v.visit_str(text),
                    }
                } else if let Some(f) = parse_float(text) {
                    v.visit_f64(f)
                } else {
                    v.visit_str(text)
                }
            }
            Kind::Seq(_) => return self.deserialize_seq(v),
            Kind::Map(_) => return self.deserialize_map(v),
        };
        self.located(r)
    }

    integers!(deserialize_i8: i8, deserialize_i16: i16, deserialize_i32: i32, deserialize_i64: i64,
        deserialize_u8: u8, deserialize_u16: u16, deserialize_u32: u32, deserialize_u64: u64);

    fn deserialize_i128<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.integer_any(v, i64::MIN as i128, i64::MAX as i128)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.integer_any(v, 0, u64::MAX as i128)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_f64(v)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = match self.scalar().map(|(t, _)| t.trim()) {
            Some(t) => match parse_float(t) {
                Some(f) => v.visit_f64(f),
                None => Err(de::Error::invalid_type(Unexpected::Str(t), &v)),
            },
            None => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        self.located(r)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = match self.scalar().map(|(t, _)| t.trim()) {
            Some(t) => match parse_bool(t) {
                Some(b) => v.visit_bool(b),
                None => Err(de::Error::custom(format!(
                    "`{t}` is not a bool: give true or false"
                ))),
            },
            None => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        self.located(r)
    }

    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = match self.scalar() {
            Some((text, _)) => v.visit_str(text),
            None => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        self.located(r)
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_str(v)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = match self.scalar() {
            Some((text, _)) => v.visit_bytes(text.as_bytes()),
            None => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        self.located(r)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.deserialize_bytes(v)
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        if self.node.is_null() {
            let r = v.visit_none();
            return self.located(r);
        }
        v.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        let r = if self.node.is_null() {
            v.visit_unit()
        } else {
            Err(de::Error::invalid_type(self.unexpected(), &v))
        };
        self.located(r)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value> {
        self.deserialize_unit(v)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        v: V,
    ) -> Result<V::Value> {
        v.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.with_tree(|d| {
            let r = match &d.node.kind {
                Kind::Seq(items) => v.visit_seq(SeqDe {
                    items: items.iter(),
                    index: 0,
                    path: &d.path,
                }),
                // `registers_remove:` with nothing after it: an empty list.
                _ if d.node.is_null() => v.visit_seq(SeqDe {
                    items: [].iter(),
                    index: 0,
                    path: &d.path,
                }),
                _ => Err(de::Error::invalid_type(d.unexpected(), &v)),
            };
            d.located(r)
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(v)
    }

    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        self.with_tree(|d| {
            let r = match &d.node.kind {
                Kind::Map(entries) => v.visit_map(MapDe::new(entries, &d.path)),
                // `tls:` with nothing after it: an empty section, all defaults.
                _ if d.node.is_null() => v.visit_map(MapDe::new(&[], &d.path)),
                _ => Err(de::Error::invalid_type(d.unexpected(), &v)),
            };
            d.located(r)
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        self.deserialize_map(v)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value> {
        let r = match self.scalar() {
            Some((text, _)) => v.visit_enum(UnitVariant(text)),
            None => Err(de::Error::invalid_type(self.unexpected(), &v)),
        };
        self.located(r)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value> {
        v.visit_unit()
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct SeqDe<'a, 'p> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
    path: &'p str,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = format!("{}[{}]", self.path, self.index);
        self.index += 1;
        seed.deserialize(NodeDe::new(node, path)).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// Entries in document order, except that `type` comes first: an input's `type` decides
/// which struct the rest of its keys belong to (see `InputConfig`'s `Deserialize`).
struct MapDe<'a, 'p> {
    entries: Vec<&'a Entry>,
    next: usize,
    path: &'p str,
}

impl<'a, 'p> MapDe<'a, 'p> {
    fn new(entries: &'a [Entry], path: &'p str) -> Self {
        let mut entries: Vec<&Entry> = entries.iter().collect();
        entries.sort_by_key(|e| e.key != "type");
        MapDe {
            entries,
            next: 0,
            path,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapDe<'_, '_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(e) = self.entries.get(self.next) else {
            return Ok(None);
        };
        let key = Node::scalar(e.key.clone(), false, e.key_at.clone());
        seed.deserialize(NodeDe::new(&key, child(self.path, &e.key)))
            .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let Some(e) = self.entries.get(self.next) else {
            return Err(de::Error::custom("a value without a key"));
        };
        self.next += 1;
        seed.deserialize(NodeDe::new(&e.value, child(self.path, &e.key)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len() - self.next)
    }
}

/// `parity: none`: an enum given by its variant's name.
struct UnitVariant<'a>(&'a str);

impl<'de> de::EnumAccess<'de> for UnitVariant<'_> {
    type Error = DeError;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let v = seed.deserialize(de::value::StrDeserializer::<DeError>::new(self.0))?;
        Ok((v, self))
    }
}

impl<'de> de::VariantAccess<'de> for UnitVariant<'_> {
    type Error = DeError;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _: T) -> Result<T::Value> {
        Err(de::Error::custom(format!("`{}` needs a value", self.0)))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value> {
        Err(de::Error::custom(format!("`{}` needs a value", self.0)))
    }

    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], _: V) -> Result<V::Value> {
        Err(de::Error::custom(format!("`{}` needs a value", self.0)))
    }
}
