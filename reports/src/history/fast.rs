//! The fast path of [`super::read_jsonl`]: one history line parsed straight into an [`Op`],
//! without serde's buffering of flattened, internally tagged enums (which cost more than
//! the checkers themselves).
//!
//! It accepts a strict subset of what serde accepts — known keys of the line's `type`, each
//! once; strings without escapes; integers without fraction or exponent, in range — and
//! gives `None` for anything else, where the caller parses the line with serde_json. So a
//! line it accepts gives exactly the `Op` serde would give, and every other line (unusual,
//! or wrong) gets serde's own result, error messages included.

use super::{Isolation, Op, OpKind, Outcome, Rec, Source, TopicPartition};

/// A JSON scalar as read.
#[derive(Clone, Copy)]
enum Val<'a> {
    Null,
    Bool(bool),
    /// An integer: its sign and magnitude.
    Int {
        negative: bool,
        magnitude: u64,
    },
    Str(&'a str),
}

impl<'a> Val<'a> {
    fn u64(self) -> Option<u64> {
        match self {
            Val::Int {
                negative: false,
                magnitude,
            } => Some(magnitude),
            _ => None,
        }
    }

    fn i64(self) -> Option<i64> {
        match self {
            Val::Int {
                negative: false,
                magnitude,
            } => i64::try_from(magnitude).ok(),
            Val::Int {
                negative: true,
                magnitude,
            } => 0i64.checked_sub_unsigned(magnitude),
            _ => None,
        }
    }

    fn i32(self) -> Option<i32> {
        i32::try_from(self.i64()?).ok()
    }

    fn u32(self) -> Option<u32> {
        u32::try_from(self.u64()?).ok()
    }

    fn str(self) -> Option<&'a str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    fn bool(self) -> Option<bool> {
        match self {
            Val::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// An `Option<T>` field's value: `null` is `None`.
    fn opt<T>(self, f: impl FnOnce(Self) -> Option<T>) -> Option<Option<T>> {
        match self {
            Val::Null => Some(None),
            v => f(v).map(Some),
        }
    }
}

/// The keys of an `Op` line; a line's keys are a bit set of these.
#[derive(Clone, Copy)]
#[repr(u8)]
enum Key {
    Id,
    Process,
    InvokeUs,
    CompleteUs,
    Outcome,
    Error,
    Type,
    Topic,
    Partition,
    Value,
    Offset,
    Idempotent,
    Attempts,
    MaxInFlight,
    Broker,
    FetchOffset,
    Records,
    HighWatermark,
    Drain,
    Group,
    ResetFrom,
    LogStart,
    HorizonMs,
    BytesLimit,
    RecordBytesMax,
    Generation,
    Partitions,
    ReadBack,
    Member,
    JoinedUs,
    Txn,
    TransactionalId,
    ProducerId,
    Epoch,
    Source,
    Isolation,
    LastStable,
    Commit,
}

const KEYS: usize = 38;

impl Key {
    fn of(name: &str) -> Option<Key> {
        Some(match name {
            "id" => Key::Id,
            "process" => Key::Process,
            "invoke_us" => Key::InvokeUs,
            "complete_us" => Key::CompleteUs,
            "outcome" => Key::Outcome,
            "error" => Key::Error,
            "type" => Key::Type,
            "topic" => Key::Topic,
            "partition" => Key::Partition,
            "value" => Key::Value,
            "offset" => Key::Offset,
            "idempotent" => Key::Idempotent,
            "attempts" => Key::Attempts,
            "max_in_flight" => Key::MaxInFlight,
            "broker" => Key::Broker,
            "fetch_offset" => Key::FetchOffset,
            "records" => Key::Records,
            "high_watermark" => Key::HighWatermark,
            "drain" => Key::Drain,
            "group" => Key::Group,
            "reset_from" => Key::ResetFrom,
            "log_start" => Key::LogStart,
            "horizon_ms" => Key::HorizonMs,
            "bytes_limit" => Key::BytesLimit,
            "record_bytes_max" => Key::RecordBytesMax,
            "generation" => Key::Generation,
            "partitions" => Key::Partitions,
            "read_back" => Key::ReadBack,
            "member" => Key::Member,
            "joined_us" => Key::JoinedUs,
            "txn" => Key::Txn,
            "transactional_id" => Key::TransactionalId,
            "producer_id" => Key::ProducerId,
            "epoch" => Key::Epoch,
            "source" => Key::Source,
            "isolation" => Key::Isolation,
            "last_stable" => Key::LastStable,
            "commit" => Key::Commit,
            _ => return None,
        })
    }

    const fn bit(self) -> u64 {
        1 << self as u32
    }
}

/// The keys every op may have.
const COMMON: u64 = Key::Id.bit()
    | Key::Process.bit()
    | Key::InvokeUs.bit()
    | Key::CompleteUs.bit()
    | Key::Outcome.bit()
    | Key::Error.bit()
    | Key::Type.bit();
const TP: u64 = Key::Topic.bit() | Key::Partition.bit();

/// A cursor over one line.
struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn skip_ws(&mut self) {
        let b = self.text.as_bytes();
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = b.get(self.at) {
            self.at += 1;
        }
    }

    /// The next non-blank byte, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.as_bytes().get(self.at).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// A string without escapes or control characters.
    #[inline]
    fn string(&mut self) -> Option<&'a str> {
        self.skip_ws();
        self.quoted()
    }

    /// A string without escapes or control characters, its opening quote next.
    #[inline(always)]
    fn quoted(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        if b.get(self.at) != Some(&b'"') {
            return None;
        }
        self.at += 1;
        let start = self.at;
        loop {
            match *b.get(self.at)? {
                b'"' => break,
                b'\\' | 0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        let s = self.text.get(start..self.at)?;
        self.at += 1;
        Some(s)
    }

    /// An integer as JSON writes one (no leading zeros), not followed by a fraction or an
    /// exponent.
    #[inline(always)]
    fn integer(&mut self) -> Option<Val<'a>> {
        let b = self.text.as_bytes();
        let negative = b.get(self.at) == Some(&b'-');
        if negative {
            self.at += 1;
        }
        let start = self.at;
        let mut magnitude: u64 = 0;
        // Up to 19 digits cannot overflow; a 20th is checked.
        while let Some(&d @ b'0'..=b'9') = b.get(self.at) {
            if self.at - start >= 19 {
                magnitude = magnitude
                    .checked_mul(10)?
                    .checked_add(u64::from(d - b'0'))?;
            } else {
                magnitude = magnitude * 10 + u64::from(d - b'0');
            }
            self.at += 1;
        }
        let digits = self.at - start;
        if digits == 0 || (digits > 1 && b[start] == b'0') || (negative && magnitude == 0) {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = b.get(self.at) {
            return None;
        }
        Some(Val::Int {
            negative,
            magnitude,
        })
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let rest = self.text.get(self.at..)?;
        rest.starts_with(word).then(|| self.at += word.len())
    }

    #[inline]
    fn scalar(&mut self) -> Option<Val<'a>> {
        match self.peek()? {
            b'"' => self.string().map(Val::Str),
            b'-' | b'0'..=b'9' => self.integer(),
            b'n' => self.literal("null").map(|()| Val::Null),
            b't' => self.literal("true").map(|()| Val::Bool(true)),
            b'f' => self.literal("false").map(|()| Val::Bool(false)),
            _ => None,
        }
    }

    /// `[` item (`,` item)* `]` or `[]`.
    fn array<T>(&mut self, mut item: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        self.eat(b'[')?;
        let mut out = Vec::new();
        if self.peek()? == b']' {
            self.at += 1;
            return Some(out);
        }
        loop {
            out.push(item(self)?);
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(out);
                }
                _ => return None,
            }
        }
    }

    /// An object of exactly two scalar fields, `a` and `b`, in either order.
    fn pair(&mut self, a: &str, b: &str) -> Option<(Val<'a>, Val<'a>)> {
        let [va, vb] = self.object([a, b])?;
        Some((va, vb))
    }

    /// An object of exactly the scalar fields `names`, in any order.
    fn object<const N: usize>(&mut self, names: [&str; N]) -> Option<[Val<'a>; N]> {
        self.eat(b'{')?;
        let mut vals: [Option<Val<'a>>; N] = [None; N];
        for i in 0..N {
            if i > 0 {
                self.eat(b',')?;
            }
            let key = self.string()?;
            self.eat(b':')?;
            let v = self.scalar()?;
            let k = names.iter().position(|n| *n == key)?;
            if vals[k].replace(v).is_some() {
                return None;
            }
        }
        self.eat(b'}')?;
        let mut out = [Val::Null; N];
        for (o, v) in out.iter_mut().zip(vals) {
            *o = v?;
        }
        Some(out)
    }

    /// A `source` object, any key order.
    fn source(&mut self) -> Option<Source> {
        let [topic, partition, offset] = self.object(["topic", "partition", "offset"])?;
        Some(Source {
            topic: topic.str()?.to_owned(),
            partition: partition.i32()?,
            offset: offset.i64()?,
        })
    }
}

/// Parses one history line if it is in the strict subset described above.
pub(super) fn parse_op(line: &str) -> Option<Op> {
    parse_written(line).or_else(|| parse_any_order(line))
}

impl<'a> Cursor<'a> {
    /// Exactly `text` next (no blanks skipped).
    #[inline(always)]
    fn lit(&mut self, text: &str) -> Option<()> {
        let b = self.text.as_bytes();
        (b.get(self.at..self.at + text.len())? == text.as_bytes()).then(|| self.at += text.len())
    }

    #[inline(always)]
    fn null(&mut self) -> bool {
        self.lit("null").is_some()
    }

    #[inline(always)]
    fn boolean(&mut self) -> Option<bool> {
        if self.lit("true").is_some() {
            Some(true)
        } else {
            self.lit("false").map(|()| false)
        }
    }

    #[inline(always)]
    fn num(&mut self) -> Option<Val<'a>> {
        self.integer()
    }

    /// A nullable field's value.
    #[inline(always)]
    fn nullable<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        if self.null() {
            Some(None)
        } else {
            f(self).map(Some)
        }
    }

    #[inline(always)]
    fn owned(&mut self) -> Option<String> {
        self.quoted().map(str::to_owned)
    }

    /// An optional string field the writer leaves out when `None`: `key` then the string,
    /// or nothing. `None` when the key is there but its value is not a plain string.
    #[inline(always)]
    fn written_string(&mut self, key: &str) -> Option<Option<String>> {
        if self.lit(key).is_some() {
            self.owned().map(Some)
        } else {
            Some(None)
        }
    }

    /// An optional integer field the writer leaves out when `None`.
    #[inline(always)]
    fn written_num<T>(
        &mut self,
        key: &str,
        f: impl FnOnce(Val<'a>) -> Option<T>,
    ) -> Option<Option<T>> {
        if self.lit(key).is_some() {
            f(self.num()?).map(Some)
        } else {
            Some(None)
        }
    }
}

/// The lines `write_jsonl` writes (compact, keys in the order the types declare them,
/// optional fields present as `null` or left out exactly as serde writes them): each key is
/// expected where the writer puts it, so nothing is looked up. `None` for anything else.
fn parse_written(line: &str) -> Option<Op> {
    let mut c = Cursor { text: line, at: 0 };
    c.lit("{\"id\":")?;
    let id = c.num()?.u64()?;
    c.lit(",\"process\":")?;
    let process = c.owned()?;
    c.lit(",\"invoke_us\":")?;
    let invoke_us = c.num()?.u64()?;
    c.lit(",\"complete_us\":")?;
    let complete_us = c.nullable(|c| c.num()?.u64())?;
    c.lit(",\"outcome\":")?;
    let outcome = match c.string()? {
        "ok" => Outcome::Ok,
        "failed" => Outcome::Failed,
        "indeterminate" => Outcome::Indeterminate,
        _ => return None,
    };
    let error = if c.lit(",\"error\":").is_some() {
        c.nullable(Cursor::owned)?
    } else {
        None
    };
    c.lit(",\"type\":")?;
    let kind = c.string()?;
    let tp = |c: &mut Cursor| -> Option<(String, i32)> {
        c.lit(",\"topic\":")?;
        let topic = c.owned()?;
        c.lit(",\"partition\":")?;
        Some((topic, c.num()?.i32()?))
    };
    let kind = match kind {
        "send" => {
            let (topic, partition) = tp(&mut c)?;
            c.lit(",\"value\":")?;
            let value = c.owned()?;
            c.lit(",\"offset\":")?;
            let offset = c.nullable(|c| c.num()?.i64())?;
            c.lit(",\"idempotent\":")?;
            let idempotent = c.boolean()?;
            c.lit(",\"attempts\":")?;
            let attempts = c.num()?.u32()?;
            c.lit(",\"max_in_flight\":")?;
            let max_in_flight = c.nullable(|c| c.num()?.u32())?;
            c.lit(",\"broker\":")?;
            let broker = c.nullable(Cursor::owned)?;
            // The transaction's fields, each written only when known.
            let txn = c.written_string(",\"txn\":")?;
            let transactional_id = c.written_string(",\"transactional_id\":")?;
            let producer_id = c.written_num(",\"producer_id\":", Val::i64)?;
            let epoch = c.written_num(",\"epoch\":", Val::i32)?;
            let source = if c.lit(",\"source\":{\"topic\":").is_some() {
                let topic = c.owned()?;
                c.lit(",\"partition\":")?;
                let partition = c.num()?.i32()?;
                c.lit(",\"offset\":")?;
                let offset = c.num()?.i64()?;
                c.lit("}")?;
                Some(Source {
                    topic,
                    partition,
                    offset,
                })
            } else {
                None
            };
            OpKind::Send {
                topic,
                partition,
                value,
                offset,
                idempotent,
                attempts,
                max_in_flight,
                broker,
                txn,
                transactional_id,
                producer_id,
                epoch,
                source,
            }
        }
        "poll" => {
            let (topic, partition) = tp(&mut c)?;
            c.lit(",\"fetch_offset\":")?;
            let fetch_offset = c.num()?.i64()?;
            c.lit(",\"records\":[")?;
            let mut records = Vec::new();
            if c.lit("]").is_none() {
                loop {
                    c.lit("{\"offset\":")?;
                    let offset = c.num()?.i64()?;
                    c.lit(",\"value\":")?;
                    let value = c.owned()?;
                    c.lit("}")?;
                    records.push(Rec { offset, value });
                    if c.lit(",").is_none() {
                        c.lit("]")?;
                        break;
                    }
                }
            }
            c.lit(",\"high_watermark\":")?;
            let high_watermark = c.nullable(|c| c.num()?.i64())?;
            c.lit(",\"drain\":")?;
            let drain = c.boolean()?;
            c.lit(",\"group\":")?;
            let group = c.nullable(Cursor::owned)?;
            // Written only when true.
            let read_back = c.lit(",\"read_back\":true").is_some();
            // Written only when not the default.
            let isolation = if c.lit(",\"isolation\":\"read_committed\"").is_some() {
                Isolation::ReadCommitted
            } else {
                Isolation::ReadUncommitted
            };
            let last_stable = c.written_num(",\"last_stable\":", Val::i64)?;
            let txn = c.written_string(",\"txn\":")?;
            OpKind::Poll {
                topic,
                partition,
                fetch_offset,
                records,
                high_watermark,
                drain,
                group,
                read_back,
                isolation,
                last_stable,
                txn,
            }
        }
        "list_offsets" => {
            let (topic, partition) = tp(&mut c)?;
            c.lit(",\"high_watermark\":")?;
            OpKind::ListOffsets {
                topic,
                partition,
                high_watermark: c.num()?.i64()?,
            }
        }
        "seek" => {
            let (topic, partition) = tp(&mut c)?;
            c.lit(",\"offset\":")?;
            let offset = c.num()?.i64()?;
            let reset_from = if c.lit(",\"reset_from\":").is_some() {
                c.nullable(|c| c.num()?.i64())?
            } else {
                None
            };
            OpKind::Seek {
                topic,
                partition,
                offset,
                reset_from,
            }
        }
        "log_start" => {
            let (topic, partition) = tp(&mut c)?;
            c.lit(",\"log_start\":")?;
            let log_start = c.num()?.i64()?;
            c.lit(",\"horizon_ms\":")?;
            let horizon_ms = c.nullable(|c| c.num()?.u64())?;
            let optional = |c: &mut Cursor, key: &str| -> Option<Option<u64>> {
                if c.lit(key).is_some() {
                    c.nullable(|c| c.num()?.u64())
                } else {
                    Some(None)
                }
            };
            let bytes_limit = optional(&mut c, ",\"bytes_limit\":")?;
            let record_bytes_max = optional(&mut c, ",\"record_bytes_max\":")?;
            OpKind::LogStart {
                topic,
                partition,
                log_start,
                horizon_ms,
                bytes_limit,
                record_bytes_max,
            }
        }
        "assign" => {
            c.lit(",\"group\":")?;
            let group = c.nullable(Cursor::owned)?;
            c.lit(",\"generation\":")?;
            let generation = c.num()?.i32()?;
            c.lit(",\"partitions\":[")?;
            let mut partitions = Vec::new();
            if c.lit("]").is_none() {
                loop {
                    c.lit("{\"topic\":")?;
                    let topic = c.owned()?;
                    c.lit(",\"partition\":")?;
                    let partition = c.num()?.i32()?;
                    c.lit("}")?;
                    partitions.push(TopicPartition { topic, partition });
                    if c.lit(",").is_none() {
                        c.lit("]")?;
                        break;
                    }
                }
            }
            // Written only when known.
            let member = if c.lit(",\"member\":").is_some() {
                Some(c.owned()?)
            } else {
                None
            };
            let joined_us = if c.lit(",\"joined_us\":").is_some() {
                Some(c.num()?.u64()?)
            } else {
                None
            };
            OpKind::Assign {
                group,
                generation,
                partitions,
                member,
                joined_us,
            }
        }
        "commit" | "fetch_committed" => {
            c.lit(",\"group\":")?;
            let group = c.owned()?;
            let (topic, partition) = tp(&mut c)?;
            c.lit(",\"offset\":")?;
            let offset = c.num()?.i64()?;
            if kind == "commit" {
                // Written only when known.
                let generation = if c.lit(",\"generation\":").is_some() {
                    Some(c.num()?.i32()?)
                } else {
                    None
                };
                let member = if c.lit(",\"member\":").is_some() {
                    Some(c.owned()?)
                } else {
                    None
                };
                let txn = c.written_string(",\"txn\":")?;
                OpKind::Commit {
                    group,
                    topic,
                    partition,
                    offset,
                    generation,
                    member,
                    txn,
                }
            } else {
                OpKind::FetchCommitted {
                    group,
                    topic,
                    partition,
                    offset,
                }
            }
        }
        "txn_init" => {
            c.lit(",\"transactional_id\":")?;
            let transactional_id = c.owned()?;
            c.lit(",\"producer_id\":")?;
            let producer_id = c.nullable(|c| c.num()?.i64())?;
            c.lit(",\"epoch\":")?;
            let epoch = c.nullable(|c| c.num()?.i32())?;
            OpKind::TxnInit {
                transactional_id,
                producer_id,
                epoch,
            }
        }
        "txn_end" => {
            c.lit(",\"txn\":")?;
            let txn = c.owned()?;
            c.lit(",\"transactional_id\":")?;
            let transactional_id = c.nullable(Cursor::owned)?;
            c.lit(",\"commit\":")?;
            let commit = c.boolean()?;
            OpKind::TxnEnd {
                txn,
                transactional_id,
                commit,
            }
        }
        _ => return None,
    };
    c.lit("}")?;
    (c.at == line.len()).then_some(Op {
        id,
        process,
        invoke_us,
        complete_us,
        outcome,
        error,
        kind,
    })
}

/// Any line of the strict subset: keys in any order, blanks anywhere.
fn parse_any_order(line: &str) -> Option<Op> {
    let mut c = Cursor { text: line, at: 0 };
    let mut vals: [Option<Val>; KEYS] = [None; KEYS];
    let mut seen: u64 = 0;
    let mut source: Option<Option<Source>> = None;
    let mut records: Option<Vec<Rec>> = None;
    let mut partitions: Option<Vec<TopicPartition>> = None;
    c.eat(b'{')?;
    if c.peek()? == b'}' {
        return None;
    }
    loop {
        let key = Key::of(c.string()?)?;
        if seen & key.bit() != 0 {
            return None;
        }
        seen |= key.bit();
        c.eat(b':')?;
        match key {
            Key::Records => {
                records = Some(c.array(|c| {
                    let (offset, value) = c.pair("offset", "value")?;
                    Some(Rec {
                        offset: offset.i64()?,
                        value: value.str()?.to_owned(),
                    })
                })?);
            }
            Key::Partitions => {
                partitions = Some(c.array(|c| {
                    let (topic, partition) = c.pair("topic", "partition")?;
                    Some(TopicPartition {
                        topic: topic.str()?.to_owned(),
                        partition: partition.i32()?,
                    })
                })?);
            }
            Key::Source => {
                source = Some(if c.peek()? == b'n' {
                    c.literal("null")?;
                    None
                } else {
                    Some(c.source()?)
                });
            }
            _ => vals[key as usize] = Some(c.scalar()?),
        }
        match c.peek()? {
            b',' => c.at += 1,
            b'}' => {
                c.at += 1;
                break;
            }
            _ => return None,
        }
    }
    c.skip_ws();
    if c.at != line.len() {
        return None;
    }
    let get = |k: Key| vals[k as usize];
    // A required field; an optional one (absent or null: None); one with a default.
    let req = |k: Key| get(k);
    let opt = |k: Key| get(k).unwrap_or(Val::Null);
    let string = |k: Key| req(k)?.str().map(str::to_owned);
    let opt_string = |k: Key| opt(k).opt(|v| v.str().map(str::to_owned));
    let kind_name = req(Key::Type)?.str()?;
    let (allowed, kind) = match kind_name {
        "send" => (
            TP | Key::Value.bit()
                | Key::Offset.bit()
                | Key::Idempotent.bit()
                | Key::Attempts.bit()
                | Key::MaxInFlight.bit()
                | Key::Broker.bit()
                | Key::Txn.bit()
                | Key::TransactionalId.bit()
                | Key::ProducerId.bit()
                | Key::Epoch.bit()
                | Key::Source.bit(),
            OpKind::Send {
                topic: string(Key::Topic)?,
                partition: req(Key::Partition)?.i32()?,
                value: string(Key::Value)?,
                offset: opt(Key::Offset).opt(Val::i64)?,
                idempotent: get(Key::Idempotent).map_or(Some(false), Val::bool)?,
                attempts: get(Key::Attempts).map_or(Some(1), Val::u32)?,
                max_in_flight: opt(Key::MaxInFlight).opt(Val::u32)?,
                broker: opt_string(Key::Broker)?,
                txn: opt_string(Key::Txn)?,
                transactional_id: opt_string(Key::TransactionalId)?,
                producer_id: opt(Key::ProducerId).opt(Val::i64)?,
                epoch: opt(Key::Epoch).opt(Val::i32)?,
                source: source.take().flatten(),
            },
        ),
        "poll" => (
            TP | Key::FetchOffset.bit()
                | Key::Records.bit()
                | Key::HighWatermark.bit()
                | Key::Drain.bit()
                | Key::Group.bit()
                | Key::ReadBack.bit()
                | Key::Isolation.bit()
                | Key::LastStable.bit()
                | Key::Txn.bit(),
            OpKind::Poll {
                topic: string(Key::Topic)?,
                partition: req(Key::Partition)?.i32()?,
                fetch_offset: req(Key::FetchOffset)?.i64()?,
                records: records.take()?,
                high_watermark: opt(Key::HighWatermark).opt(Val::i64)?,
                drain: get(Key::Drain).map_or(Some(false), Val::bool)?,
                group: opt_string(Key::Group)?,
                read_back: get(Key::ReadBack).map_or(Some(false), Val::bool)?,
                isolation: match get(Key::Isolation) {
                    None => Isolation::ReadUncommitted,
                    Some(v) => match v.str()? {
                        "read_uncommitted" => Isolation::ReadUncommitted,
                        "read_committed" => Isolation::ReadCommitted,
                        _ => return None,
                    },
                },
                last_stable: opt(Key::LastStable).opt(Val::i64)?,
                txn: opt_string(Key::Txn)?,
            },
        ),
        "list_offsets" => (
            TP | Key::HighWatermark.bit(),
            OpKind::ListOffsets {
                topic: string(Key::Topic)?,
                partition: req(Key::Partition)?.i32()?,
                high_watermark: req(Key::HighWatermark)?.i64()?,
            },
        ),
        "seek" => (
            TP | Key::Offset.bit() | Key::ResetFrom.bit(),
            OpKind::Seek {
                topic: string(Key::Topic)?,
                partition: req(Key::Partition)?.i32()?,
                offset: req(Key::Offset)?.i64()?,
                reset_from: opt(Key::ResetFrom).opt(Val::i64)?,
            },
        ),
        "log_start" => (
            TP | Key::LogStart.bit()
                | Key::HorizonMs.bit()
                | Key::BytesLimit.bit()
                | Key::RecordBytesMax.bit(),
            OpKind::LogStart {
                topic: string(Key::Topic)?,
                partition: req(Key::Partition)?.i32()?,
                log_start: req(Key::LogStart)?.i64()?,
                horizon_ms: opt(Key::HorizonMs).opt(Val::u64)?,
                bytes_limit: opt(Key::BytesLimit).opt(Val::u64)?,
                record_bytes_max: opt(Key::RecordBytesMax).opt(Val::u64)?,
            },
        ),
        "assign" => (
            Key::Group.bit()
                | Key::Generation.bit()
                | Key::Partitions.bit()
                | Key::Member.bit()
                | Key::JoinedUs.bit(),
            OpKind::Assign {
                group: opt_string(Key::Group)?,
                generation: req(Key::Generation)?.i32()?,
                partitions: partitions.take()?,
                member: opt_string(Key::Member)?,
                joined_us: opt(Key::JoinedUs).opt(Val::u64)?,
            },
        ),
        "commit" => (
            TP | Key::Group.bit()
                | Key::Offset.bit()
                | Key::Generation.bit()
                | Key::Member.bit()
                | Key::Txn.bit(),
            OpKind::Commit {
                group: string(Key::Group)?,
                topic: string(Key::Topic)?,
                partition: req(Key::Partition)?.i32()?,
                offset: req(Key::Offset)?.i64()?,
                generation: opt(Key::Generation).opt(Val::i32)?,
                member: opt_string(Key::Member)?,
                txn: opt_string(Key::Txn)?,
            },
        ),
        "fetch_committed" => (
            TP | Key::Group.bit() | Key::Offset.bit(),
            OpKind::FetchCommitted {
                group: string(Key::Group)?,
                topic: string(Key::Topic)?,
                partition: req(Key::Partition)?.i32()?,
                offset: req(Key::Offset)?.i64()?,
            },
        ),
        "txn_init" => (
            Key::TransactionalId.bit() | Key::ProducerId.bit() | Key::Epoch.bit(),
            OpKind::TxnInit {
                transactional_id: string(Key::TransactionalId)?,
                producer_id: opt(Key::ProducerId).opt(Val::i64)?,
                epoch: opt(Key::Epoch).opt(Val::i32)?,
            },
        ),
        "txn_end" => (
            Key::Txn.bit() | Key::TransactionalId.bit() | Key::Commit.bit(),
            OpKind::TxnEnd {
                txn: string(Key::Txn)?,
                transactional_id: opt_string(Key::TransactionalId)?,
                commit: req(Key::Commit)?.bool()?,
            },
        ),
        _ => return None,
    };
    if seen & !(COMMON | allowed) != 0 {
        return None;
    }
    let outcome = match req(Key::Outcome)?.str()? {
        "ok" => Outcome::Ok,
        "failed" => Outcome::Failed,
        "indeterminate" => Outcome::Indeterminate,
        _ => return None,
    };
    Some(Op {
        id: req(Key::Id)?.u64()?,
        process: string(Key::Process)?,
        invoke_us: req(Key::InvokeUs)?.u64()?,
        complete_us: opt(Key::CompleteUs).opt(Val::u64)?,
        outcome,
        error: opt_string(Key::Error)?,
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{synth_history_with, SplitMix64, SynthConfig};

    /// The fast path either declines or agrees with serde; it never accepts what serde
    /// refuses.
    fn agrees(line: &str) -> bool {
        let slow: Option<Op> = serde_json::from_str(line).ok();
        [parse_op(line), parse_written(line), parse_any_order(line)]
            .into_iter()
            .all(|fast| match fast {
                None => true,
                Some(op) => slow.as_ref() == Some(&op),
            })
    }

    fn lines() -> Vec<String> {
        let mut out = Vec::new();
        for seed in 0..6 {
            for op in synth_history_with(400, seed, &SynthConfig::swarm(seed)) {
                out.push(serde_json::to_string(&op).unwrap());
            }
        }
        out.extend(
            [
                r#"{"id":1,"process":"p","invoke_us":5,"outcome":"indeterminate","type":"send","topic":"t","partition":0,"value":"v"}"#,
                r#"{"id":2,"process":"p","invoke_us":5,"complete_us":null,"outcome":"failed","error":"NOT_SENT","type":"send","topic":"t","partition":0,"value":"w","offset":null,"attempts":0,"max_in_flight":null,"broker":null}"#,
                r#"{"id":3,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4,"reset_from":9}"#,
                r#"{"id":4,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"log_start","topic":"t","partition":0,"log_start":4,"horizon_ms":60000,"bytes_limit":1048576,"record_bytes_max":1200}"#,
                r#"{"id":5,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"assign","group":null,"generation":-1,"partitions":[]}"#,
                r#"{"id":6,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"fetch_committed","group":"g","topic":"t","partition":0,"offset":-1}"#,
                r#"{"id":10,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"assign","group":"g","generation":3,"partitions":[],"member":"c-1","joined_us":4}"#,
                r#"{"id":11,"process":"c","invoke_us":5,"complete_us":6,"outcome":"failed","error":"ILLEGAL_GENERATION","type":"commit","group":"g","topic":"t","partition":0,"offset":7,"generation":2,"member":"c-1"}"#,
                r#"{"id":12,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"commit","group":"g","topic":"t","partition":0,"offset":7}"#,
                r#"{"id":7,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"poll","topic":"t","partition":2147483647,"fetch_offset":0,"records":[],"high_watermark":null}"#,
                r#"{"id":8,"process":"p-ryw","invoke_us":5,"complete_us":6,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":3,"records":[{"offset":3,"value":"v"}],"high_watermark":4,"drain":false,"group":null,"read_back":true}"#,
                r#"{"id":9,"process":"p-ryw","invoke_us":5,"complete_us":6,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":3,"records":[],"high_watermark":4,"read_back":false}"#,
                r#"{"id":13,"process":"p","invoke_us":5,"complete_us":6,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"tv","offset":3,"txn":"p/1","transactional_id":"p","producer_id":7,"epoch":0,"source":{"topic":"in","partition":1,"offset":9}}"#,
                r#"{"id":14,"process":"p","invoke_us":5,"complete_us":6,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"tw","source":{"offset":9,"partition":1,"topic":"in"},"txn":null,"epoch":3}"#,
                r#"{"id":15,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":3,"records":[],"high_watermark":4,"isolation":"read_committed","last_stable":4,"txn":"p/1"}"#,
                r#"{"id":16,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"poll","topic":"t","partition":1,"fetch_offset":3,"records":[],"high_watermark":4,"isolation":"read_uncommitted","last_stable":null,"txn":null}"#,
                r#"{"id":17,"process":"c","invoke_us":5,"complete_us":6,"outcome":"ok","type":"commit","group":"g","topic":"t","partition":0,"offset":7,"txn":"p/1"}"#,
                r#"{"id":18,"process":"p","invoke_us":5,"complete_us":6,"outcome":"ok","type":"txn_init","transactional_id":"p","producer_id":7,"epoch":1}"#,
                r#"{"id":19,"process":"p","invoke_us":5,"complete_us":null,"outcome":"indeterminate","type":"txn_init","transactional_id":"p"}"#,
                r#"{"id":20,"process":"p","invoke_us":5,"complete_us":6,"outcome":"ok","type":"txn_end","txn":"p/1","transactional_id":"p","commit":true}"#,
                r#"{"id":21,"process":"p","invoke_us":5,"complete_us":6,"outcome":"failed","error":"INVALID_TXN_STATE","type":"txn_end","txn":"p/2","commit":false}"#,
                r#"{"id":22,"process":"p","invoke_us":5,"complete_us":6,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"tx","offset":null,"source":null}"#,
            ]
            .map(String::from),
        );
        out
    }

    #[test]
    fn histories_take_the_fast_path_and_parse_as_serde_does() {
        for line in lines() {
            let slow: Op = serde_json::from_str(&line).unwrap();
            let any = parse_any_order(&line).unwrap_or_else(|| panic!("declined: {line}"));
            assert_eq!(any, slow, "{line}");
            // What the writer writes takes the written-order path.
            let again = serde_json::to_string(&slow).unwrap();
            let written = parse_written(&again).unwrap_or_else(|| panic!("declined: {again}"));
            assert_eq!(written, slow, "{again}");
        }
    }

    #[test]
    fn unusual_lines_are_declined_or_parsed_alike() {
        let cases = [
            // Blanks anywhere, keys in another order: accepted.
            r#" { "type" : "seek" , "topic":"t","partition":0,"offset":4, "id":3,"process":"c","invoke_us":5,"outcome":"ok" } "#,
            // Unknown keys, duplicate keys, escapes, floats, exponents, leading zeros,
            // out-of-range numbers, wrong types, nulls where not allowed, trailing text.
            r#"{"id":3,"extra":1,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3,"id":4,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3,"process":"c\n","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3.0,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3e2,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":03,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":-0,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":-0}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":2147483648,"offset":4}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":9223372036854775808}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":-9223372036854775808}"#,
            r#"{"id":18446744073709551616,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3,"process":7,"invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":18446744073709551615,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":100000000000000000000,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":99999999999999999999,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            "{\"id\":3,\"process\":\"consumer-\u{1}x\",\"invoke_us\":5,\"outcome\":\"ok\",\"type\":\"seek\",\"topic\":\"t\",\"partition\":0,\"offset\":4}",
            r#"{"id":3,"process":"consumer-az1-00000\u0041","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3,"process":"consumer-é-ß-名前-0123456789","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":null}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4} x"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"seek","topic":"t","partition":0,"offset":4,"value":"v"}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"maybe","type":"seek","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"jump","topic":"t","partition":0,"offset":4}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"v","idempotent":null}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"v","attempts":4294967296}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"offset":1,"value":"a","x":1}]}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"value":"a","offset":1},]}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[{"value":"a","offset":1}]}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"assign","generation":1,"partitions":[{"partition":1,"topic":"t"}]}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[],"isolation":null}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"poll","topic":"t","partition":0,"fetch_offset":0,"records":[],"isolation":"serializable"}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"v","source":{"topic":"in","partition":1}}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"send","topic":"t","partition":0,"value":"v","source":{"topic":"in","partition":1,"offset":2,"x":1}}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"txn_end","txn":"a"}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"txn_end","txn":"a","commit":true,"epoch":1}"#,
            r#"{"id":3,"process":"c","invoke_us":5,"outcome":"ok","type":"fetch_committed","group":"g","topic":"t","partition":0,"offset":1,"txn":"a"}"#,
            r#"{}"#,
            r#"[]"#,
            r#"{"id":3,"#,
            "",
        ];
        for line in cases {
            assert!(agrees(line), "{line}");
        }
        // Accepted, though unusual.
        for accepted in [0, 10, 13, 18, 28, 30] {
            assert!(parse_op(cases[accepted]).is_some(), "{}", cases[accepted]);
        }
    }

    #[test]
    fn damaged_lines_are_declined_or_parsed_alike() {
        let lines = lines();
        let mut rng = SplitMix64::new(7);
        let alphabet = b"{}[],:\"\\ 0123456789-.eE-nultrfa\n\txyz";
        for _ in 0..20_000 {
            let line = &lines[rng.below(lines.len() as u64) as usize];
            let mut bytes = line.as_bytes().to_vec();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(bytes.len() as u64) as usize;
                match rng.below(3) {
                    0 => bytes[at] = alphabet[rng.below(alphabet.len() as u64) as usize],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, alphabet[rng.below(alphabet.len() as u64) as usize]),
                }
            }
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            assert!(agrees(&text), "{text}");
        }
    }
}
