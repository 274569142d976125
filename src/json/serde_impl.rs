//! Serde's traits for the JSON types, and conversions from and to `serde_json::Value`.
//!
//! Values serialize as `serde_json::Value` does, so `serde_json::to_string(&value)` prints what
//! [`to_string`](super::to_string) prints, and deserialize as it does: a repeated key's later
//! value replaces the earlier one in its place, integers keep their kind and a float that is
//! not finite becomes `null`.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::parse::KeyIndex;
use super::{Array, Map, Number, Str, Value, N};

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Bool(value) => serializer.serialize_bool(*value),
            Value::Number(number) => number.serialize(serializer),
            Value::String(text) => serializer.serialize_str(text),
            Value::Array(items) => items.serialize(serializer),
            Value::Object(fields) => fields.serialize(serializer),
        }
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            N::PosInt(value) => serializer.serialize_u64(value),
            N::NegInt(value) => serializer.serialize_i64(value),
            N::Float(value) => serializer.serialize_f64(value),
        }
    }
}

impl Serialize for Str {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self)
    }
}

impl Serialize for Array {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for item in self.iter() {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (key, value) in self.iter() {
            map.serialize_entry(key.as_str(), value)?;
        }
        map.end()
    }
}

/// Builds values from any self-describing format.
struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::Number(Number::from(value)))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::Number(Number::from(value)))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Value, E> {
        NumberVisitor.visit_i128(value).map(Value::Number)
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Value, E> {
        NumberVisitor.visit_u128(value).map(Value::Number)
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(Str::from(value)))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(Str::from(value)))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Value, A::Error> {
        ArrayVisitor.visit_seq(seq).map(Value::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Value, A::Error> {
        MapVisitor.visit_map(map).map(Value::Object)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

/// Builds arrays from sequences.
struct ArrayVisitor;

impl<'de> Visitor<'de> for ArrayVisitor {
    type Value = Array;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Array, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Array::from(items))
    }
}

impl<'de> Deserialize<'de> for Array {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Array, D::Error> {
        deserializer.deserialize_seq(ArrayVisitor)
    }
}

/// Builds objects from maps; a repeated key's later value replaces the earlier in its place.
struct MapVisitor;

impl<'de> Visitor<'de> for MapVisitor {
    type Value = Map;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Map, A::Error> {
        let mut fields: Vec<(Str, Value)> =
            Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        let mut keys = KeyIndex::default();
        while let Some((key, value)) = map.next_entry::<Str, Value>()? {
            match keys.position(&fields, &key) {
                Some(position) => fields[position].1 = value,
                None => {
                    fields.push((key, value));
                    keys.added(&fields);
                }
            }
        }
        Ok(Map::from_unique(fields))
    }
}

impl<'de> Deserialize<'de> for Map {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Map, D::Error> {
        deserializer.deserialize_map(MapVisitor)
    }
}

/// Builds shared strings from strings.
struct StrVisitor;

impl Visitor<'_> for StrVisitor {
    type Value = Str;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_str<E>(self, value: &str) -> Result<Str, E> {
        Ok(Str::from(value))
    }

    fn visit_string<E>(self, value: String) -> Result<Str, E> {
        Ok(Str::from(value))
    }
}

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Str, D::Error> {
        deserializer.deserialize_str(StrVisitor)
    }
}

/// Builds numbers from integers and finite floats, as `serde_json::Number` does.
struct NumberVisitor;

impl Visitor<'_> for NumberVisitor {
    type Value = Number;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON number")
    }

    fn visit_i64<E>(self, value: i64) -> Result<Number, E> {
        Ok(Number::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Number, E> {
        Ok(Number::from(value))
    }

    fn visit_i128<E: de::Error>(self, value: i128) -> Result<Number, E> {
        if let Ok(value) = u64::try_from(value) {
            Ok(Number::from(value))
        } else if let Ok(value) = i64::try_from(value) {
            Ok(Number::from(value))
        } else {
            Err(E::custom("JSON number out of range"))
        }
    }

    fn visit_u128<E: de::Error>(self, value: u128) -> Result<Number, E> {
        u64::try_from(value)
            .map(Number::from)
            .map_err(|_| E::custom("JSON number out of range"))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Number, E> {
        Number::from_f64(value).ok_or_else(|| E::custom("not a JSON number"))
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Number, D::Error> {
        deserializer.deserialize_any(NumberVisitor)
    }
}

impl From<&serde_json::Number> for Number {
    fn from(number: &serde_json::Number) -> Self {
        if let Some(value) = number.as_u64() {
            Number(N::PosInt(value))
        } else if let Some(value) = number.as_i64() {
            Number(N::NegInt(value))
        } else {
            // Without `arbitrary_precision` every `serde_json::Number` is one of the three.
            Number(N::Float(number.as_f64().unwrap_or(0.0)))
        }
    }
}

impl From<&Number> for serde_json::Number {
    fn from(number: &Number) -> Self {
        match number.0 {
            N::PosInt(value) => serde_json::Number::from(value),
            N::NegInt(value) => serde_json::Number::from(value),
            // A `Number`'s float is finite; zero stands in should one not be.
            N::Float(value) => serde_json::Number::from_f64(value)
                .unwrap_or_else(|| serde_json::Number::from(0_u64)),
        }
    }
}

impl From<&serde_json::Value> for Value {
    fn from(value: &serde_json::Value) -> Self {
        match value {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(value) => Value::Bool(*value),
            serde_json::Value::Number(number) => Value::Number(Number::from(number)),
            serde_json::Value::String(text) => Value::String(Str::from(text.as_str())),
            serde_json::Value::Array(items) => {
                Value::Array(items.iter().map(Value::from).collect())
            }
            serde_json::Value::Object(fields) => Value::Object(Map::from_unique(
                fields
                    .iter()
                    .map(|(key, value)| (Str::from(key.as_str()), Value::from(value)))
                    .collect(),
            )),
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(value: serde_json::Value) -> Self {
        match value {
            serde_json::Value::String(text) => Value::String(Str::from(text)),
            serde_json::Value::Array(items) => {
                Value::Array(items.into_iter().map(Value::from).collect())
            }
            serde_json::Value::Object(fields) => Value::Object(Map::from_unique(
                fields
                    .into_iter()
                    .map(|(key, value)| (Str::from(key), Value::from(value)))
                    .collect(),
            )),
            other => Value::from(&other),
        }
    }
}

impl From<&Value> for serde_json::Value {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(value) => serde_json::Value::Bool(*value),
            Value::Number(number) => match number.0 {
                // As `serde_json` turns a float that is not finite into a value.
                N::Float(value) if !value.is_finite() => serde_json::Value::Null,
                _ => serde_json::Value::Number(serde_json::Number::from(number)),
            },
            Value::String(text) => serde_json::Value::String(text.as_str().to_owned()),
            Value::Array(items) => {
                serde_json::Value::Array(items.iter().map(serde_json::Value::from).collect())
            }
            Value::Object(fields) => serde_json::Value::Object(
                fields
                    .iter()
                    .map(|(key, value)| (key.as_str().to_owned(), serde_json::Value::from(value)))
                    .collect(),
            ),
        }
    }
}

impl From<Value> for serde_json::Value {
    fn from(value: Value) -> Self {
        serde_json::Value::from(&value)
    }
}
