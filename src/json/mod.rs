//! stepstream's JSON value: the type every execution's data lives in.
//!
//! It replaces `serde_json::Value` on the hot path for three reasons:
//!
//! - objects are insertion-ordered vectors of pairs, not hash maps: the small objects that
//!   events are made of are built, searched and dropped without hashing;
//! - arrays, objects and strings are reference counted, so cloning any value is O(1) and the
//!   data flow (InputPath, ResultPath, templates) shares subtrees instead of copying them;
//!   mutation copies on write ([`Array`] and [`Map`] dereference mutably through
//!   `Arc::make_mut`);
//! - [`from_slice`] and [`to_vec`] are a parser and a printer written for this type, and print
//!   exactly what `serde_json` (with `preserve_order` and `float_roundtrip`) prints.
//!
//! Serde's traits are implemented too, for configuration and tests, and values convert to and
//! from `serde_json::Value`.

mod parse;
mod serde_impl;
mod write;

#[cfg(test)]
mod tests;

use std::borrow::Borrow;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

pub use parse::{from_slice, from_slice_keeping, from_str, Error, MAX_DEPTH};
pub use write::{
    deeper_than, size, size_bound, string_size, to_string, to_string_pretty, to_vec, write_str,
    write_to, SizeMemo,
};

/// An immutable string. Cloning is O(1): strings of up to [`Str::INLINE`] bytes (most keys
/// and many values) are stored inline without allocating, longer ones are shared.
#[derive(Clone)]
pub struct Str(Repr);

#[derive(Clone)]
enum Repr {
    /// Invariant: `bytes[..len]` is UTF-8.
    Inline {
        len: u8,
        bytes: [u8; Str::INLINE],
    },
    Shared(Arc<str>),
}

impl Str {
    /// The longest string stored inline.
    pub const INLINE: usize = 22;

    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, bytes } => {
                let bytes = &bytes[..usize::from(*len)];
                // SAFETY: inline bytes are only ever copied from a `str` (see `From<&str>`).
                unsafe { std::str::from_utf8_unchecked(bytes) }
            }
            Repr::Shared(text) => text,
        }
    }
}

impl Deref for Str {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Str {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Str {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq for Str {
    fn eq(&self, other: &Str) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Str {}

impl PartialOrd for Str {
    fn partial_cmp(&self, other: &Str) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Str {
    fn cmp(&self, other: &Str) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for Str {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state)
    }
}

impl From<&str> for Str {
    #[inline]
    fn from(text: &str) -> Self {
        if text.len() <= Str::INLINE {
            Str(Repr::Inline {
                len: text.len() as u8,
                bytes: inline_bytes(text.as_bytes()),
            })
        } else {
            Str(Repr::Shared(Arc::from(text)))
        }
    }
}

/// Copies at most [`Str::INLINE`] bytes into a zeroed buffer with two overlapping
/// fixed-size copies (plain loads and stores, no call to `memcpy`).
#[inline(always)]
fn inline_bytes(source: &[u8]) -> [u8; Str::INLINE] {
    let mut out = [0; Str::INLINE];
    let len = source.len();
    debug_assert!(len <= Str::INLINE);
    if len > 16 {
        out[..16].copy_from_slice(&source[..16]);
        out[len - 8..len].copy_from_slice(&source[len - 8..]);
    } else if len >= 8 {
        out[..8].copy_from_slice(&source[..8]);
        out[len - 8..len].copy_from_slice(&source[len - 8..]);
    } else if len >= 4 {
        out[..4].copy_from_slice(&source[..4]);
        out[len - 4..len].copy_from_slice(&source[len - 4..]);
    } else {
        for (slot, byte) in out.iter_mut().zip(source) {
            *slot = *byte;
        }
    }
    out
}

/// Byte equality with the short lengths of keys compared by at most two overlapping word
/// loads instead of a call to `memcmp`.
#[inline(always)]
fn same_bytes(one: &[u8], other: &[u8]) -> bool {
    let len = one.len();
    if len != other.len() {
        return false;
    }
    let word = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
    };
    let half = |bytes: &[u8], at: usize| {
        u32::from_le_bytes(bytes[at..at + 4].try_into().expect("four bytes"))
    };
    match len {
        0 => true,
        // The first, middle and last bytes are every byte.
        1..=3 => {
            one[0] == other[0] && one[len / 2] == other[len / 2] && one[len - 1] == other[len - 1]
        }
        4..=7 => half(one, 0) == half(other, 0) && half(one, len - 4) == half(other, len - 4),
        8..=16 => word(one, 0) == word(other, 0) && word(one, len - 8) == word(other, len - 8),
        17..=24 => {
            word(one, 0) == word(other, 0)
                && word(one, 8) == word(other, 8)
                && word(one, len - 8) == word(other, len - 8)
        }
        _ => one == other,
    }
}

impl From<String> for Str {
    fn from(text: String) -> Self {
        Str::from(text.as_str())
    }
}

impl From<&String> for Str {
    fn from(text: &String) -> Self {
        Str::from(text.as_str())
    }
}

impl From<Box<str>> for Str {
    fn from(text: Box<str>) -> Self {
        Str::from(&*text)
    }
}

impl From<Arc<str>> for Str {
    fn from(text: Arc<str>) -> Self {
        if text.len() <= Str::INLINE {
            Str::from(&*text)
        } else {
            Str(Repr::Shared(text))
        }
    }
}

impl From<&Str> for Str {
    fn from(text: &Str) -> Self {
        text.clone()
    }
}

impl PartialEq<str> for Str {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Str {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Str {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JSON number, with `serde_json`'s representation and equality: non-negative integers,
/// negative integers and floats are distinct kinds (`1` is not equal to `1.0`).
#[derive(Clone, Copy)]
pub struct Number(N);

#[derive(Clone, Copy, Debug)]
enum N {
    PosInt(u64),
    /// Always negative.
    NegInt(i64),
    /// Always finite.
    Float(f64),
}

impl Number {
    /// A float as a number; `None` when it is not finite.
    pub fn from_f64(value: f64) -> Option<Number> {
        value.is_finite().then_some(Number(N::Float(value)))
    }

    pub fn is_i64(&self) -> bool {
        match self.0 {
            N::PosInt(value) => value <= i64::MAX as u64,
            N::NegInt(_) => true,
            N::Float(_) => false,
        }
    }

    pub fn is_u64(&self) -> bool {
        matches!(self.0, N::PosInt(_))
    }

    pub fn is_f64(&self) -> bool {
        matches!(self.0, N::Float(_))
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            N::PosInt(value) => i64::try_from(value).ok(),
            N::NegInt(value) => Some(value),
            N::Float(_) => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            N::PosInt(value) => Some(value),
            _ => None,
        }
    }

    /// The number as a float (integers convert, possibly losing precision).
    pub fn as_f64(&self) -> Option<f64> {
        Some(match self.0 {
            N::PosInt(value) => value as f64,
            N::NegInt(value) => value as f64,
            N::Float(value) => value,
        })
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Number) -> bool {
        match (self.0, other.0) {
            (N::PosInt(a), N::PosInt(b)) => a == b,
            (N::NegInt(a), N::NegInt(b)) => a == b,
            (N::Float(a), N::Float(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl fmt::Display for Number {
    /// As JSON prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        write::number(&mut out, self);
        f.write_str(std::str::from_utf8(&out).expect("numbers print as ASCII"))
    }
}

macro_rules! number_from_unsigned {
    ($($t:ty)*) => {$(
        impl From<$t> for Number {
            fn from(value: $t) -> Self {
                Number(N::PosInt(value as u64))
            }
        }
    )*};
}

macro_rules! number_from_signed {
    ($($t:ty)*) => {$(
        impl From<$t> for Number {
            fn from(value: $t) -> Self {
                if value < 0 {
                    Number(N::NegInt(value as i64))
                } else {
                    Number(N::PosInt(value as u64))
                }
            }
        }
    )*};
}

number_from_unsigned!(u8 u16 u32 u64 usize);
number_from_signed!(i8 i16 i32 i64 isize);

/// A shared array in one allocation; cloning is O(1), mutation (through `DerefMut`) copies
/// on write. Arrays are built whole (`collect`, `From<Vec<Value>>`) rather than grown.
#[derive(Clone, PartialEq)]
pub struct Array(Arc<[Value]>);

impl Default for Array {
    fn default() -> Array {
        Array::new()
    }
}

impl Array {
    pub fn new() -> Array {
        Array(Arc::new([]))
    }

    /// The elements as a vector (sharing their subtrees).
    pub fn into_vec(self) -> Vec<Value> {
        self.0.to_vec()
    }

    /// The address of the shared elements: equal for clones of one array.
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as *const Value as usize
    }
}

impl Array {
    /// An array that takes the elements `stack[start..]`, in one allocation and one copy.
    pub(crate) fn from_tail(stack: &mut Vec<Value>, start: usize) -> Array {
        Array(arc_from_tail(stack, start))
    }
}

/// Moves `stack[start..]` into a new shared slice: one allocation, one copy.
fn arc_from_tail<T>(stack: &mut Vec<T>, start: usize) -> Arc<[T]> {
    let count = stack.len() - start;
    let mut slice = Arc::<[T]>::new_uninit_slice(count);
    let target = Arc::get_mut(&mut slice).expect("a new Arc has one owner");
    // SAFETY: the `count` elements from `start` on are initialised; they are copied bitwise
    // into the new slice, which owns them from now on, and the stack forgets them by
    // shortening its length without dropping.
    unsafe {
        std::ptr::copy_nonoverlapping(
            stack.as_ptr().add(start),
            target.as_mut_ptr().cast::<T>(),
            count,
        );
        stack.set_len(start);
        slice.assume_init()
    }
}

impl Deref for Array {
    type Target = [Value];
    fn deref(&self) -> &[Value] {
        &self.0
    }
}

impl DerefMut for Array {
    fn deref_mut(&mut self) -> &mut [Value] {
        Arc::make_mut(&mut self.0)
    }
}

impl From<Vec<Value>> for Array {
    fn from(items: Vec<Value>) -> Self {
        Array(Arc::from(items))
    }
}

impl FromIterator<Value> for Array {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Array(Arc::from_iter(iter))
    }
}

impl<'a> IntoIterator for &'a Array {
    type Item = &'a Value;
    type IntoIter = std::slice::Iter<'a, Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Array {
    type Item = Value;
    type IntoIter = std::vec::IntoIter<Value>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl fmt::Debug for Array {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

/// A shared, insertion-ordered object in one allocation; cloning is O(1), mutation copies on
/// write, and adding or removing a key makes a new allocation.
///
/// Keys are unique; lookups scan the pairs, which is fastest for the small objects events are
/// made of. Build large objects whole (`collect`, `extend`) rather than key by key.
#[derive(Clone)]
pub struct Map(Arc<[(Str, Value)]>);

impl Default for Map {
    fn default() -> Map {
        Map::new()
    }
}

impl Map {
    pub fn new() -> Map {
        Map(Arc::new([]))
    }

    /// The address of the shared pairs: equal for clones of one map.
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as *const (Str, Value) as usize
    }

    /// A map from pairs whose keys are known to be unique (the parser's and templates' case).
    pub(crate) fn from_unique(pairs: Vec<(Str, Value)>) -> Map {
        debug_assert!(unique(&pairs), "keys are unique");
        Map(Arc::from(pairs))
    }

    /// A map that takes the pairs `stack[start..]`, whose keys are known to be unique, in
    /// one allocation and one copy.
    pub(crate) fn from_unique_tail(stack: &mut Vec<(Str, Value)>, start: usize) -> Map {
        let map = Map(arc_from_tail(stack, start));
        debug_assert!(unique(&map.0), "keys are unique");
        map
    }

    /// A map from an exactly sized run of pairs whose keys are known to be unique, in one
    /// allocation.
    pub(crate) fn from_unique_iter<I>(pairs: I) -> Map
    where
        I: IntoIterator<Item = (Str, Value)>,
        I::IntoIter: ExactSizeIterator,
    {
        let map = Map(Arc::from_iter(pairs));
        debug_assert!(unique(&map.0), "keys are unique");
        map
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.0
            .iter()
            .position(|(name, _)| same_bytes(name.as_bytes(), key.as_bytes()))
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0
            .iter()
            .find(|(name, _)| same_bytes(name.as_bytes(), key.as_bytes()))
            .map(|(_, value)| value)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        let index = self.position(key)?;
        Some(&mut Arc::make_mut(&mut self.0)[index].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets a key's value; an existing key keeps its place. Returns the value replaced.
    pub fn insert(&mut self, key: impl Into<Str>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.position(&key) {
            Some(index) => Some(std::mem::replace(
                &mut Arc::make_mut(&mut self.0)[index].1,
                value,
            )),
            None => {
                self.push(key, value);
                None
            }
        }
    }

    /// Appends a key that is not in the map: one new allocation, into which the pairs are
    /// moved when this map is their only owner and cloned otherwise.
    fn push(&mut self, key: Str, value: Value) {
        let len = self.0.len();
        let mut grown = Arc::<[(Str, Value)]>::new_uninit_slice(len + 1);
        let target = Arc::get_mut(&mut grown).expect("a new Arc has one owner");
        target[len].write((key, value));
        match Arc::get_mut(&mut self.0) {
            Some(pairs) => {
                // SAFETY: the pairs are copied bitwise into `grown`, which owns them from
                // now on; the old slice is then freed as `ManuallyDrop` pairs (the same
                // layout), so nothing is dropped twice.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        pairs.as_ptr(),
                        target.as_mut_ptr().cast::<(Str, Value)>(),
                        len,
                    );
                    let old = std::mem::replace(&mut self.0, grown.assume_init());
                    drop(Arc::from_raw(
                        Arc::into_raw(old) as *const [std::mem::ManuallyDrop<(Str, Value)>]
                    ));
                }
            }
            None => {
                for (slot, pair) in target.iter_mut().zip(self.0.iter()) {
                    slot.write(pair.clone());
                }
                // SAFETY: every element was written above.
                self.0 = unsafe { grown.assume_init() };
            }
        }
    }

    /// The value of a key, inserted by `default` first when the key is absent.
    pub fn get_or_insert_with(
        &mut self,
        key: impl Into<Str>,
        default: impl FnOnce() -> Value,
    ) -> &mut Value {
        let key = key.into();
        let index = match self.position(&key) {
            Some(index) => index,
            None => {
                self.push(key, default());
                self.0.len() - 1
            }
        };
        &mut Arc::make_mut(&mut self.0)[index].1
    }

    /// Removes a key, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let index = self.position(key)?;
        let removed = self.0[index].1.clone();
        let mut pairs = self.0.to_vec();
        pairs.remove(index);
        self.0 = Arc::from(pairs);
        Some(removed)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&Str, &Value)> + DoubleEndedIterator {
        self.0.iter().map(|(key, value)| (key, value))
    }

    pub fn iter_mut(&mut self) -> impl ExactSizeIterator<Item = (&Str, &mut Value)> {
        Arc::make_mut(&mut self.0)
            .iter_mut()
            .map(|(key, value)| (&*key, value))
    }

    pub fn keys(&self) -> impl ExactSizeIterator<Item = &Str> + DoubleEndedIterator {
        self.0.iter().map(|(key, _)| key)
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &Value> + DoubleEndedIterator {
        self.0.iter().map(|(_, value)| value)
    }

    /// The pairs in order (sharing their subtrees).
    pub fn into_pairs(self) -> Vec<(Str, Value)> {
        self.0.to_vec()
    }
}

/// Whether no key repeats, for debug assertions: the check is quadratic, so maps of more than
/// a few dozen pairs are taken on trust.
fn unique(pairs: &[(Str, Value)]) -> bool {
    pairs.len() > 64
        || pairs
            .iter()
            .enumerate()
            .all(|(i, (key, _))| pairs[..i].iter().all(|(other, _)| other != key))
}

impl PartialEq for Map {
    /// Maps are equal when they hold the same keys with equal values, in any order.
    fn eq(&self, other: &Map) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.len() == other.len()
                && self
                    .iter()
                    .all(|(key, value)| other.get(key).is_some_and(|theirs| theirs == value)))
    }
}

impl<K: Into<Str>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        let mut map = Map::new();
        map.extend(iter);
        map
    }
}

impl<K: Into<Str>> Extend<(K, Value)> for Map {
    /// Adds or replaces keys as `insert` would, making one new allocation for the lot.
    fn extend<I: IntoIterator<Item = (K, Value)>>(&mut self, iter: I) {
        let mut pairs = std::mem::take(self).into_pairs();
        // Large maps find their keys through an index instead of a scan.
        let mut index: Option<std::collections::HashMap<Str, usize>> = None;
        for (key, value) in iter {
            let key = key.into();
            if index.is_none() && pairs.len() > 16 {
                index = Some(
                    pairs
                        .iter()
                        .enumerate()
                        .map(|(i, (key, _))| (key.clone(), i))
                        .collect(),
                );
            }
            let found = match &index {
                Some(index) => index.get(&key).copied(),
                None => pairs.iter().position(|(name, _)| *name == key),
            };
            match found {
                Some(position) => pairs[position].1 = value,
                None => {
                    if let Some(index) = &mut index {
                        index.insert(key.clone(), pairs.len());
                    }
                    pairs.push((key, value));
                }
            }
        }
        *self = Map(Arc::from(pairs));
    }
}

impl IntoIterator for Map {
    type Item = (Str, Value);
    type IntoIter = std::vec::IntoIter<(Str, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_pairs().into_iter()
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Str, &'a Value);
    type IntoIter = std::iter::Map<
        std::slice::Iter<'a, (Str, Value)>,
        fn(&'a (Str, Value)) -> (&'a Str, &'a Value),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter().map(|(key, value)| (key, value))
    }
}

impl PartialEq<String> for Str {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl AsRef<[u8]> for Str {
    fn as_ref(&self) -> &[u8] {
        self.as_str().as_bytes()
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// A JSON value.
#[derive(Clone, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Str),
    Array(Array),
    Object(Map),
}

static NULL: Value = Value::Null;

/// An object from literal pairs, whose keys must differ from each other.
pub fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(Map::from_unique_iter(
        pairs
            .into_iter()
            .map(|(key, value)| (Str::from(key), value)),
    ))
}

impl Value {
    /// The identity of an array's or object's shared contents; `None` for other values.
    pub(crate) fn identity(&self) -> Option<usize> {
        match self {
            Value::Array(items) => Some(items.identity()),
            Value::Object(fields) => Some(fields.identity()),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn is_boolean(&self) -> bool {
        matches!(self, Value::Bool(_))
    }

    pub fn is_number(&self) -> bool {
        matches!(self, Value::Number(_))
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::String(_))
    }

    pub fn is_array(&self) -> bool {
        matches!(self, Value::Array(_))
    }

    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    pub fn is_i64(&self) -> bool {
        matches!(self, Value::Number(number) if number.is_i64())
    }

    pub fn is_u64(&self) -> bool {
        matches!(self, Value::Number(number) if number.is_u64())
    }

    pub fn is_f64(&self) -> bool {
        matches!(self, Value::Number(number) if number.is_f64())
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(value) => Some(*value),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(text) => Some(text),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(number) => Some(number),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        self.as_number().and_then(Number::as_i64)
    }

    pub fn as_u64(&self) -> Option<u64> {
        self.as_number().and_then(Number::as_u64)
    }

    pub fn as_f64(&self) -> Option<f64> {
        self.as_number().and_then(Number::as_f64)
    }

    pub fn as_array(&self) -> Option<&Array> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_array_mut(&mut self) -> Option<&mut Array> {
        match self {
            Value::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(fields) => Some(fields),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(fields) => Some(fields),
            _ => None,
        }
    }

    /// An object's field.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|fields| fields.get(key))
    }

    /// An array's element.
    pub fn get_index(&self, index: usize) -> Option<&Value> {
        self.as_array().and_then(|items| items.get(index))
    }

    /// The value, leaving `null` in its place.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// The JSON type's name as AWS error messages give it.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

impl std::ops::Index<&str> for Value {
    type Output = Value;
    /// An object's field, or `null`.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl std::ops::Index<usize> for Value {
    type Output = Value;
    /// An array's element, or `null`.
    fn index(&self, index: usize) -> &Value {
        self.get_index(index).unwrap_or(&NULL)
    }
}

impl std::ops::IndexMut<&str> for Value {
    /// An object's field, inserted as `null` when absent; `null` itself becomes an object
    /// first (as `serde_json` does). Panics on other kinds of value.
    fn index_mut(&mut self, key: &str) -> &mut Value {
        if self.is_null() {
            *self = Value::Object(Map::new());
        }
        match self {
            Value::Object(fields) => fields.get_or_insert_with(key, || Value::Null),
            other => panic!("cannot index into a JSON {} with a key", other.kind()),
        }
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;
    /// A field, or `null`.
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Bool(value) => write!(f, "Bool({value})"),
            Value::Number(number) => fmt::Debug::fmt(number, f),
            Value::String(text) => write!(f, "String({text:?})"),
            Value::Array(items) => {
                f.write_str("Array ")?;
                fmt::Debug::fmt(items, f)
            }
            Value::Object(fields) => {
                f.write_str("Object ")?;
                fmt::Debug::fmt(fields, f)
            }
        }
    }
}

impl fmt::Display for Value {
    /// Compact JSON; `{:#}` prints it indented.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = if f.alternate() {
            to_string_pretty(self)
        } else {
            to_string(self)
        };
        f.write_str(&text)
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

macro_rules! value_from_integer {
    ($($t:ty)*) => {$(
        impl From<$t> for Value {
            fn from(value: $t) -> Self {
                Value::Number(Number::from(value))
            }
        }
    )*};
}

value_from_integer!(u8 u16 u32 u64 usize i8 i16 i32 i64 isize);

impl From<f64> for Value {
    /// A finite float as a number, anything else as `null` (as `serde_json` does).
    fn from(value: f64) -> Self {
        Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

impl From<Number> for Value {
    fn from(number: Number) -> Self {
        Value::Number(number)
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::String(Str::from(text))
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::String(Str::from(text))
    }
}

impl From<Str> for Value {
    fn from(text: Str) -> Self {
        Value::String(text)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::Array(Array::from(items))
    }
}

impl From<Array> for Value {
    fn from(items: Array) -> Self {
        Value::Array(items)
    }
}

impl From<Map> for Value {
    fn from(fields: Map) -> Self {
        Value::Object(fields)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

impl FromIterator<Value> for Value {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Value::Array(iter.into_iter().collect())
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

impl PartialEq<bool> for Value {
    fn eq(&self, other: &bool) -> bool {
        self.as_bool() == Some(*other)
    }
}

impl PartialEq<i64> for Value {
    fn eq(&self, other: &i64) -> bool {
        self.as_i64() == Some(*other)
    }
}

/// A [`Value`] from JSON-like syntax, as `serde_json::json!` takes it.
#[macro_export]
macro_rules! json {
    ($($tokens:tt)+) => {
        $crate::json::Value::from(::serde_json::json!($($tokens)+))
    };
}

#[cfg(test)]
mod layout {
    use super::{same_bytes, Str};

    #[test]
    fn values_stay_small() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
        assert_eq!(std::mem::size_of::<super::Value>(), 24, "Value");
    }

    #[test]
    fn short_strings_copy_and_compare_at_every_length() {
        let text = "abcdefghijklmnopqrstuvwxyz0123456789";
        for len in 0..=text.len() {
            let piece = &text[..len];
            let stored = Str::from(piece);
            assert_eq!(stored.as_str(), piece);
            assert!(same_bytes(stored.as_bytes(), piece.as_bytes()));
            for at in 0..len {
                let mut changed = piece.as_bytes().to_vec();
                changed[at] ^= 1;
                assert!(!same_bytes(piece.as_bytes(), &changed), "{len} {at}");
            }
            if len < text.len() {
                assert!(!same_bytes(piece.as_bytes(), &text.as_bytes()[..len + 1]));
            }
        }
    }
}
