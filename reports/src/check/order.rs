//! Order in real time: real-time order of acknowledged appends, nonmonotonic-send (the same
//! rule within one producer) and stale reads. Each is one sweep per partition: sends sorted
//! by acknowledgement time feed a running maximum offset, which every later invocation (a
//! send, a poll reporting a high watermark, a ListOffsets) is compared with. A producer's
//! pipelined sends (the earlier one still in flight) are judged in `sendorder.rs`.

use super::index::{sort_by_bucket, Index};
use super::{describe, Class, Sink, Violation};
use crate::history::{OpKind, Outcome};

/// An acknowledged send in the role of "A": acked at `time` at `offset`.
#[derive(Clone, Copy)]
struct Acked {
    tp: u32,
    time: u64,
    offset: i64,
    process: u32,
    value: u32,
}

/// Top two acknowledged offsets from distinct processes.
#[derive(Default)]
struct Top2 {
    best: Option<Acked>,
    second: Option<Acked>,
}

impl Top2 {
    fn insert(&mut self, a: Acked) {
        match self.best {
            None => self.best = Some(a),
            Some(b) if b.process == a.process => {
                if a.offset > b.offset {
                    self.best = Some(a);
                }
            }
            Some(b) if a.offset > b.offset => {
                self.second = Some(b);
                self.best = Some(a);
            }
            Some(_) => {
                if self.second.is_none_or(|s| a.offset > s.offset) {
                    self.second = Some(a);
                }
            }
        }
    }

    /// The highest offset acknowledged to a process other than `process`.
    fn other_than(&self, process: u32) -> Option<Acked> {
        match self.best {
            Some(b) if b.process != process => Some(b),
            _ => self.second,
        }
    }

    fn overall(&self) -> Option<Acked> {
        self.best
    }
}

pub(super) fn check(ix: &Index, sink: &mut Sink) {
    let mut acked: Vec<Acked> = (0..ix.sends.len() as u32)
        .filter_map(|v| {
            let s = &ix.sends[v as usize];
            Some(Acked {
                tp: s.tp,
                time: s.complete?,
                offset: ix.offset_as_earlier(v)?,
                process: s.process,
                value: v,
            })
        })
        .collect();
    sort_by_bucket(
        &mut acked,
        ix.tps.len(),
        |a| a.tp as usize,
        |a| (a.time, a.offset, a.value),
    );
    appends(ix, &acked, sink);
    reads(ix, &acked, sink);
}

/// Real-time order and nonmonotonic-send: B invoked after A acknowledged must land above A.
fn appends(ix: &Index, acked: &[Acked], sink: &mut Sink) {
    // (tp, invoke, offset, process, value) of every send with a known offset.
    let mut later: Vec<(u32, u64, i64, u32, u32)> = (0..ix.sends.len() as u32)
        .filter_map(|v| {
            let s = &ix.sends[v as usize];
            Some((s.tp, s.invoke, ix.offset_as_later(v)?, s.process, v))
        })
        .collect();
    sort_by_bucket(&mut later, ix.tps.len(), |l| l.0 as usize, |l| *l);
    let mut per_process: Vec<Option<Acked>> = vec![None; ix.processes.len()];
    let mut touched: Vec<u32> = Vec::new();
    let mut a = 0;
    let mut current_tp = u32::MAX;
    let mut top = Top2::default();
    for &(tp, invoke, offset, process, value) in &later {
        if tp != current_tp {
            current_tp = tp;
            top = Top2::default();
            for p in touched.drain(..) {
                per_process[p as usize] = None;
            }
            while a < acked.len() && acked[a].tp < tp {
                a += 1;
            }
        }
        while a < acked.len() && acked[a].tp == tp && acked[a].time < invoke {
            let x = acked[a];
            top.insert(x);
            let slot = &mut per_process[x.process as usize];
            if slot.is_none() {
                touched.push(x.process);
            }
            if slot.is_none_or(|s| x.offset > s.offset) {
                *slot = Some(x);
            }
            a += 1;
        }
        if let Some(x) = top.other_than(process) {
            if x.offset > offset {
                sink.push(Class::RealTimeOrder, || {
                    pair(ix, Class::RealTimeOrder, x, value, offset)
                });
            }
        }
        if let Some(x) = per_process[process as usize] {
            if x.offset > offset {
                sink.push(Class::NonmonotonicSend, || {
                    pair(ix, Class::NonmonotonicSend, x, value, offset)
                });
            }
        }
    }
}

fn pair(ix: &Index, class: Class, a: Acked, b: u32, b_offset: i64) -> Violation {
    let (topic, partition) = ix.tps[a.tp as usize];
    let a_op = ix.op(ix.sends[a.value as usize].op);
    let b_op = ix.op(ix.sends[b as usize].op);
    let who = if class == Class::NonmonotonicSend {
        "the same producer"
    } else {
        "another producer"
    };
    Violation {
        class,
        explanation: format!(
            "{} sent {:?} and was acknowledged at offset {} of {}; afterwards {} ({who}) sent {:?}, which landed at the lower offset {b_offset}",
            describe(a_op),
            ix.value_name(a.value),
            a.offset,
            ix.tp_name(a.tp),
            describe(b_op),
            ix.value_name(b)
        ),
        ops: vec![a_op.id, b_op.id],
        topic: topic.to_string(),
        partition,
        offsets: vec![a.offset, b_offset],
        values: vec![ix.value_name(a.value).to_string(), ix.value_name(b).to_string()],
    }
}

/// Stale reads: a high watermark reported after A's acknowledgement must exceed offset(A).
fn reads(ix: &Index, acked: &[Acked], sink: &mut Sink) {
    // (tp, invoke, high watermark, op index) of every ok poll reporting one and every ok
    // ListOffsets.
    let mut hws: Vec<(u32, u64, i64, u32)> = Vec::new();
    for (i, op) in ix.others() {
        if op.outcome != Outcome::Ok {
            continue;
        }
        let hw = match &op.kind {
            OpKind::Poll {
                high_watermark: Some(hw),
                ..
            } => *hw,
            OpKind::ListOffsets { high_watermark, .. } => *high_watermark,
            _ => continue,
        };
        hws.push((ix.op_tp[i], op.invoke_us, hw, i as u32));
    }
    sort_by_bucket(&mut hws, ix.tps.len(), |h| h.0 as usize, |h| *h);
    let mut a = 0;
    let mut current_tp = u32::MAX;
    let mut top = Top2::default();
    for &(tp, invoke, hw, op) in &hws {
        if tp != current_tp {
            current_tp = tp;
            top = Top2::default();
            while a < acked.len() && acked[a].tp < tp {
                a += 1;
            }
        }
        while a < acked.len() && acked[a].tp == tp && acked[a].time < invoke {
            top.insert(acked[a]);
            a += 1;
        }
        let Some(x) = top.overall() else { continue };
        if hw <= x.offset {
            sink.push(Class::StaleRead, || {
                let (topic, partition) = ix.tps[tp as usize];
                let a_op = ix.op(ix.sends[x.value as usize].op);
                let r_op = ix.op(op);
                Violation {
                    class: Class::StaleRead,
                    explanation: format!(
                        "{} sent {:?} and was acknowledged at offset {} of {}; afterwards {} reported high watermark {hw}, which does not include it",
                        describe(a_op),
                        ix.value_name(x.value),
                        x.offset,
                        ix.tp_name(tp),
                        describe(r_op)
                    ),
                    ops: vec![a_op.id, r_op.id],
                    topic: topic.to_string(),
                    partition,
                    offsets: vec![x.offset, hw],
                    values: vec![ix.value_name(x.value).to_string()],
                }
            });
        }
    }
}
