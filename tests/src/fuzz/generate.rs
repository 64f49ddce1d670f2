//! Random requests for any RPC, from the message descriptors civicgrid-proto embeds: every field
//! set or left out at random, with values a careless or hostile client sends (empty, huge, NUL
//! characters, codes of the wrong length, NaN, extremes, enum numbers nobody defined), and raw
//! mutations of the encoded bytes. Pure: the same seed gives the same cases.

use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value};
use rand::{Rng, SeedableRng, seq::IndexedRandom};
use rand_chacha::ChaCha8Rng;

/// How deep nested messages go.
const MAX_DEPTH: u32 = 4;

/// Strings that have broken services before, or look like what they expect.
const STRINGS: &[&str] = &[
    "",
    " ",
    "a",
    "411600",
    "411602",
    "411621",
    "411602001",
    "411602001001",
    "411602001001001",
    "999999999999999",
    "000000",
    "01.02.003",
    "99.99.999",
    "411602-20261206-000001",
    "01a24bd9-5fc5-70f0-8cf0-b6d9baa107c3",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "2026-12-06T08:00:00Z",
    "2026-13-45T99:99:99Z",
    "13812345678",
    "路灯不亮，夜间通行不便",
    "'; DROP TABLE events; --",
    "a\0b",
    "\u{feff}\u{202e}",
    "center:411602",
    "department:411602001-chengguan",
    "https://127.0.0.1:1/hook",
    "-1",
    "NaN",
];

/// A source of random requests.
pub struct Generator {
    rng: ChaCha8Rng,
}

/// One generated request: its bytes, and whether they are a well-formed message (a malformed one
/// may be answered INTERNAL by the gRPC library's decoder, never by a service).
pub struct Case {
    /// The encoded request.
    pub bytes: Vec<u8>,
    /// The message, when `bytes` are its encoding.
    pub message: Option<DynamicMessage>,
}

impl Generator {
    /// A generator whose cases follow from `seed`.
    pub fn new(seed: u64) -> Generator {
        Generator { rng: ChaCha8Rng::seed_from_u64(seed) }
    }

    /// A request of type `input`: nine in ten well-formed, the rest mutated bytes.
    pub fn case(&mut self, input: &MessageDescriptor) -> Case {
        let message = self.message(input, 0);
        let bytes = message.encode_to_vec();
        if self.rng.random_bool(0.1) {
            Case { bytes: self.mutate(bytes), message: None }
        } else {
            Case { bytes, message: Some(message) }
        }
    }

    /// A message with each field set at random (about two in three).
    pub fn message(&mut self, desc: &MessageDescriptor, depth: u32) -> DynamicMessage {
        let mut message = DynamicMessage::new(desc.clone());
        for field in desc.fields() {
            if self.rng.random_bool(0.35) {
                continue;
            }
            if let Some(value) = self.field(&field, depth) {
                message.set_field(&field, value);
            }
        }
        message
    }

    fn field(&mut self, field: &FieldDescriptor, depth: u32) -> Option<Value> {
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else { return None };
            let (key, value) = (entry.map_entry_key_field(), entry.map_entry_value_field());
            let mut map = std::collections::HashMap::new();
            for _ in 0..self.rng.random_range(0..3) {
                let k = match self.scalar(&key.kind(), depth)? {
                    Value::String(s) => MapKey::String(s),
                    Value::I32(n) => MapKey::I32(n),
                    Value::I64(n) => MapKey::I64(n),
                    Value::U32(n) => MapKey::U32(n),
                    Value::U64(n) => MapKey::U64(n),
                    Value::Bool(b) => MapKey::Bool(b),
                    _ => return None,
                };
                map.insert(k, self.scalar(&value.kind(), depth)?);
            }
            return Some(Value::Map(map));
        }
        if field.is_list() {
            let n = *[0usize, 1, 2, 5, 50].choose(&mut self.rng).unwrap_or(&1);
            let items: Option<Vec<Value>> = (0..n).map(|_| self.scalar(&field.kind(), depth)).collect();
            return items.map(Value::List);
        }
        self.scalar(&field.kind(), depth)
    }

    fn scalar(&mut self, kind: &Kind, depth: u32) -> Option<Value> {
        let r = &mut self.rng;
        Some(match kind {
            Kind::Double => Value::F64(pick_f64(r)),
            Kind::Float => Value::F32(pick_f64(r) as f32),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                Value::I32(*[0, 1, -1, 7, 100, i32::MAX, i32::MIN].choose(r).unwrap_or(&0))
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                Value::I64(*[0, 1, -1, 1_000, i64::MAX, i64::MIN].choose(r).unwrap_or(&0))
            }
            Kind::Uint32 | Kind::Fixed32 => Value::U32(*[0, 1, 5, 1_000, u32::MAX].choose(r).unwrap_or(&0)),
            Kind::Uint64 | Kind::Fixed64 => Value::U64(*[0, 1, 5, 1_000, u64::MAX].choose(r).unwrap_or(&0)),
            Kind::Bool => Value::Bool(r.random_bool(0.5)),
            Kind::String => Value::String(pick_string(r)),
            Kind::Bytes => {
                let n = r.random_range(0..64);
                Value::Bytes((0..n).map(|_| r.random::<u8>()).collect::<Vec<u8>>().into())
            }
            Kind::Enum(e) => {
                let defined: Vec<i32> = e.values().map(|v| v.number()).collect();
                let number = if r.random_bool(0.8) { *defined.choose(r).unwrap_or(&0) } else { 99 };
                Value::EnumNumber(number)
            }
            Kind::Message(m) => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                Value::Message(self.message(m, depth + 1))
            }
        })
    }

    /// Flips, cuts or extends the encoding.
    fn mutate(&mut self, mut bytes: Vec<u8>) -> Vec<u8> {
        let r = &mut self.rng;
        match r.random_range(0..3) {
            0 if !bytes.is_empty() => {
                let i = r.random_range(0..bytes.len());
                bytes[i] ^= 1 << r.random_range(0..8);
            }
            1 if !bytes.is_empty() => bytes.truncate(r.random_range(0..bytes.len())),
            _ => bytes.extend((0..r.random_range(1..16)).map(|_| r.random::<u8>())),
        }
        bytes
    }
}

fn pick_f64(r: &mut ChaCha8Rng) -> f64 {
    match r.random_range(0..8) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => -1e308,
        3 => 0.0,
        4 => r.random_range(-200.0..200.0),
        _ => r.random_range(33.0..34.0),
    }
}

fn pick_string(r: &mut ChaCha8Rng) -> String {
    match r.random_range(0..10) {
        0 => "x".repeat(*[256usize, 5_000, 100_000].choose(r).unwrap_or(&256)),
        1 => (0..r.random_range(1..40)).map(|_| char::from(r.random_range(32u8..127))).collect(),
        _ => STRINGS.choose(r).copied().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submit() -> MessageDescriptor {
        let pool = prost_reflect::DescriptorPool::decode(civicgrid_proto::FILE_DESCRIPTOR_SET).unwrap();
        pool.get_message_by_name("civicgrid.v1.SubmitEventRequest").unwrap()
    }

    #[test]
    fn the_same_seed_gives_the_same_cases() {
        let (mut a, mut b) = (Generator::new(7), Generator::new(7));
        for _ in 0..50 {
            assert_eq!(a.case(&submit()).bytes, b.case(&submit()).bytes);
        }
    }

    #[test]
    fn well_formed_cases_decode_and_some_are_mutated() {
        let mut g = Generator::new(1);
        let (mut formed, mut mutated) = (0, 0);
        for _ in 0..500 {
            let case = g.case(&submit());
            match case.message {
                Some(_) => {
                    formed += 1;
                    DynamicMessage::decode(submit(), case.bytes.as_slice()).unwrap();
                }
                None => mutated += 1,
            }
        }
        assert!(formed > 400 && mutated > 20, "{formed} well-formed, {mutated} mutated");
    }
}
