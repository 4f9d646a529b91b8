//! Evaluation: an expression answered over plain bitsets ([`Words`]), with
//! stored sets read container by container from their serialized form.

use super::columns::Range;
use super::SegmentIndex;
use crate::group::GroupKind;
use crate::segment::facts::within;
use crate::segment::{Cond, Expr, GroupRef, RFM_BANDS};
use roaring::RoaringBitmap;
use std::borrow::Cow;
use std::collections::HashMap;

impl SegmentIndex {
    /// Hands `then` the segment as [`Words`], within the universe.
    pub(super) fn run<T>(&self, e: &Expr, then: impl FnOnce(&[u64]) -> T) -> T {
        thread_local! {
            /// Freed buffers kept for the thread's next query: fresh ones
            /// come from the OS, and touching their pages cost more than
            /// the query.
            static SCRATCH: std::cell::Cell<Scratch> = std::cell::Cell::new(Scratch::default());
        }
        let n = self.universe.max().map_or(0, |m| m as usize / 64 + 1);
        let mut scratch = SCRATCH.take();
        if scratch.n != n {
            scratch = Scratch { n, ..Scratch::default() };
        }
        let mut everyone = scratch.any();
        let dense = self.universe.max().is_some_and(|m| u64::from(m) + 1 == self.len());
        if dense {
            // Ids 0..len, as a dense id space mostly is: no need to read the set.
            everyone.fill(!0);
            let tail = self.len() % 64;
            if let (Some(last), true) = (everyone.last_mut(), tail != 0) {
                *last = (1 << tail) - 1;
            }
        } else {
            everyone.fill(0);
            scratch.apply(Op::Or, &self.universe, &mut everyone);
        }
        let mut words = self.eval(e, &everyone, &mut scratch);
        if dense {
            // Only the last word reaches past everyone.
            if let (Some(w), Some(u)) = (words.last_mut(), everyone.last()) {
                *w &= u;
            }
        } else {
            words.iter_mut().zip(&everyone).for_each(|(w, u)| *w &= u);
        }
        let answer = then(&words);
        scratch.give(words);
        scratch.give(everyone);
        scratch.free.truncate(Scratch::KEEP);
        SCRATCH.set(scratch);
        answer
    }

    /// The segment, exact for the customers in `care` (and for nobody else
    /// necessarily): an AND only needs its later operands answered for the
    /// survivors of the earlier ones, so a test deep inside an OR or a NOT
    /// reads only the columns' words where survivors are.
    fn eval(&self, e: &Expr, care: &[u64], scratch: &mut Scratch) -> Words {
        match e {
            Expr::And(v) => self.and(v, care, scratch),
            Expr::Or(v) => self.or(v, care, scratch),
            Expr::Not(e) => {
                let mut w = self.eval(e, care, scratch);
                w.iter_mut().for_each(|x| *x = !*x);
                w
            }
            Expr::Cond(c) if self.is_test(c) => {
                let mut w = scratch.any();
                self.test(c, care, &mut w);
                w
            }
            Expr::Cond(c) => {
                let mut w = scratch.zeros();
                scratch.apply(Op::Or, &self.set(c), &mut w);
                w
            }
        }
    }

    /// AND: the most selective operand first, and every later one only
    /// narrows the survivors in place — a stored set (or its complement)
    /// straight from its containers, a test or a nested expression only
    /// where survivors are.
    fn and(&self, v: &[Expr], care: &[u64], scratch: &mut Scratch) -> Words {
        let mut order: Vec<&Expr> = v.iter().collect();
        order.sort_by_key(|e| self.cost(e));
        let mut acc = scratch.copy(care);
        for e in order {
            match e {
                Expr::Cond(c) if !self.is_test(c) => scratch.apply(Op::And, &self.set(c), &mut acc),
                Expr::Not(n) if matches!(&**n, Expr::Cond(c) if !self.is_test(c)) => {
                    let Expr::Cond(c) = &**n else { unreachable!("matched above") };
                    scratch.apply(Op::AndNot, &self.set(c), &mut acc);
                }
                Expr::Cond(c) => {
                    let mut out = scratch.any();
                    self.test(c, &acc, &mut out);
                    scratch.give(std::mem::replace(&mut acc, out));
                }
                // A complement is taken in the same pass that narrows.
                Expr::Not(n) => {
                    let b = self.eval(n, &acc, scratch);
                    acc.iter_mut().zip(&b).for_each(|(a, b)| *a &= !b);
                    scratch.give(b);
                }
                _ => {
                    let b = self.eval(e, &acc, scratch);
                    acc.iter_mut().zip(&b).for_each(|(a, b)| *a &= b);
                    scratch.give(b);
                }
            }
        }
        acc
    }

    /// OR: stored sets straight from their containers into one result.
    fn or(&self, v: &[Expr], care: &[u64], scratch: &mut Scratch) -> Words {
        let stored = |e: &Expr| matches!(e, Expr::Cond(c) if !self.is_test(c));
        // The first operand that is not a stored set is the start, so as
        // not to copy it into a blank.
        let mut acc = match v.iter().find(|e| !stored(e)) {
            Some(first) => self.eval(first, care, scratch),
            None => scratch.zeros(),
        };
        let mut started = false;
        for e in v {
            match e {
                Expr::Cond(c) if !self.is_test(c) => scratch.apply(Op::Or, &self.set(c), &mut acc),
                _ if !started => started = true,
                Expr::Not(n) => {
                    let b = self.eval(n, care, scratch);
                    acc.iter_mut().zip(&b).for_each(|(a, b)| *a |= !b);
                    scratch.give(b);
                }
                _ => {
                    let b = self.eval(e, care, scratch);
                    acc.iter_mut().zip(&b).for_each(|(a, b)| *a |= b);
                    scratch.give(b);
                }
            }
        }
        acc
    }

    /// A rough upper bound of the work (and result size) of an operand.
    fn cost(&self, e: &Expr) -> u64 {
        let u = self.len();
        match e {
            Expr::And(v) => v.iter().map(|e| self.cost(e)).min().unwrap_or(u),
            Expr::Or(v) => v.iter().map(|e| self.cost(e)).fold(0, u64::saturating_add),
            Expr::Not(_) => u + 1,
            Expr::Cond(c) if self.is_test(c) => 2 * u + 2,
            Expr::Cond(c) => self.set(c).len(),
        }
    }

    /// Conditions answered by testing customers one by one rather than by a
    /// stored set.
    fn is_test(&self, c: &Cond) -> bool {
        matches!(
            c,
            Cond::AddedBetween { .. }
                | Cond::LastActiveBefore(_)
                | Cond::LastActiveAfter(_)
                | Cond::SpentAtLeast(_)
                | Cond::Field { .. }
                | Cond::WithinKm { .. }
        )
    }

    /// The set of a set condition, borrowed where the index stores it.
    fn set(&self, c: &Cond) -> Cow<'_, RoaringBitmap> {
        let empty = &self.empty;
        Cow::Borrowed(match c {
            Cond::Tag(t) => self.tags.get(t).unwrap_or(empty),
            Cond::Store(s) => self.stores.get(s).unwrap_or(empty),
            Cond::Staff(s) => self.staff.get(s).unwrap_or(empty),
            Cond::Code(s) => self.codes.get(s).unwrap_or(empty),
            Cond::Stage(s) => &self.stages[s.index()],
            Cond::Rfm { dim, band } if RFM_BANDS.contains(band) => &self.rfm[dim.index()][*band as usize - 1],
            Cond::OrdersAtLeast(n) => return self.orders.at_least(*n, &self.universe),
            Cond::InfluenceAtLeast(n) => return self.influence.at_least(*n, &self.universe),
            Cond::Group(GroupRef::Id(g)) => self.groups.get(g).unwrap_or(empty),
            Cond::GroupKind(k) => {
                &self.group_kinds[GroupKind::ALL.iter().position(|x| x == k).expect("ALL holds every kind")]
            }
            Cond::InGroupsAtLeast(n) => return self.in_groups.at_least(*n, &self.universe),
            Cond::PointsAtLeast(n) => return self.points.at_least(*n, &self.universe),
            Cond::Coupon { template_id, state } => self.coupons.get(&(*template_id, *state)).unwrap_or(empty),
            _ => empty,
        })
    }

    /// Writes to every word of `out` the customers in `care` that pass a
    /// test condition.
    fn test(&self, c: &Cond, care: &[u64], out: &mut [u64]) {
        match c {
            Cond::AddedBetween { from_ms, to_ms } => {
                self.added_at.select(Range::new(*from_ms, *to_ms, false), care, out)
            }
            Cond::LastActiveBefore(t) => self.last_active.select(Range::new(i64::MIN, *t, true), care, out),
            Cond::LastActiveAfter(t) => self.last_active.select(Range::at_least(*t), care, out),
            Cond::SpentAtLeast(f) => self.spent.select(Range::at_least(*f), care, out),
            Cond::Field { name, op, value } => {
                out.fill(0);
                if let Some(m) = self.fields.get(name) {
                    sparse(m, care, out, |a| op.test(a, value));
                }
            }
            Cond::WithinKm { store_id, km } => {
                out.fill(0);
                if let Some(&store) = self.store_locations.get(store_id) {
                    sparse(&self.home, care, out, |&h| within(h, store, *km));
                }
            }
            _ => {
                out.copy_from_slice(care);
                Scratch::apply_to(Op::And, &self.set(c), out, &mut Vec::new());
            }
        }
    }
}

/// A set of ids under evaluation, a bit an id (`w[id / 64] >> id % 64`):
/// 1 bit a customer, so a few of them cost less than one byte column, and
/// AND, OR and NOT are word loops with no containers to build or shrink.
type Words = Vec<u64>;

/// What evaluations reuse: freed [`Words`] and the serialized stored set
/// being read.
#[derive(Default)]
struct Scratch {
    /// Words a set.
    n: usize,
    free: Vec<Words>,
    serial: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Or,
    And,
    AndNot,
}

impl Scratch {
    /// Buffers kept between queries: as many as a deep expression has in
    /// flight at once.
    const KEEP: usize = 8;

    /// Words of unspecified content.
    fn any(&mut self) -> Words {
        self.free.pop().unwrap_or_else(|| vec![0; self.n])
    }

    fn zeros(&mut self) -> Words {
        let mut w = self.any();
        w.fill(0);
        w
    }

    fn copy(&mut self, from: &[u64]) -> Words {
        let mut w = self.any();
        w.copy_from_slice(from);
        w
    }

    fn give(&mut self, w: Words) {
        self.free.push(w);
    }

    fn apply(&mut self, op: Op, b: &RoaringBitmap, w: &mut [u64]) {
        Self::apply_to(op, b, w, &mut self.serial);
    }

    /// `w op= b`, reading `b`'s containers from its portable serialized
    /// form (roaring 0.10 shows them no other way): a dense container is
    /// 1,024 words to combine, a sparse one a list of bits.
    fn apply_to(op: Op, b: &RoaringBitmap, w: &mut [u64], serial: &mut Vec<u8>) {
        serial.resize(b.serialized_size(), 0);
        b.serialize_into(Sink { buf: serial, at: 0 }).expect("serialized_size is the size");
        let buf = &serial[..];
        let u16_at = |i: usize| usize::from(u16::from_le_bytes([buf[i], buf[i + 1]]));
        let u32_at = |i: usize| u32::from_le_bytes(buf[i..i + 4].try_into().expect("4 bytes"));
        assert_eq!(u32_at(0), NO_RUN_COOKIE, "roaring 0.10 writes no run containers");
        let n = u32_at(4) as usize;
        let mut at = 8 + 8 * n;
        // Chunks (1,024 words) below this are done.
        let mut done = 0;
        for c in 0..n {
            let base = (u16_at(8 + 4 * c) * 1024).min(w.len());
            let card = u16_at(10 + 4 * c) + 1;
            if op == Op::And {
                w[done..base].fill(0);
            }
            let end = (base + 1024).min(w.len());
            done = end;
            let chunk = &mut w[base..end];
            if card > 4096 {
                let bits =
                    buf[at..at + 8192].chunks_exact(8).map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
                match op {
                    Op::Or => chunk.iter_mut().zip(bits).for_each(|(x, b)| *x |= b),
                    Op::And => chunk.iter_mut().zip(bits).for_each(|(x, b)| *x &= b),
                    Op::AndNot => chunk.iter_mut().zip(bits).for_each(|(x, b)| *x &= !b),
                }
                at += 8192;
            } else {
                let ids = buf[at..at + 2 * card].chunks_exact(2).map(|l| usize::from(u16::from_le_bytes([l[0], l[1]])));
                match op {
                    Op::Or => ids.for_each(|i| {
                        if let Some(x) = chunk.get_mut(i / 64) {
                            *x |= 1 << (i % 64);
                        }
                    }),
                    Op::AndNot => ids.for_each(|i| {
                        if let Some(x) = chunk.get_mut(i / 64) {
                            *x &= !(1 << (i % 64));
                        }
                    }),
                    Op::And => {
                        let mut keep = [0u64; 1024];
                        ids.for_each(|i| keep[i / 64] |= 1 << (i % 64));
                        chunk.iter_mut().zip(keep).for_each(|(x, k)| *x &= k);
                    }
                }
                at += 2 * card;
            }
        }
        if op == Op::And {
            w[done..].fill(0);
        }
    }
}

/// Roaring writes its serialized form a value at a time; into a `Vec` each
/// write checks capacity and grows, which made reading a dense set cost
/// ten times the copy. This writes into a buffer already the right size.
struct Sink<'a> {
    buf: &'a mut [u8],
    at: usize,
}

impl std::io::Write for Sink<'_> {
    #[inline]
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.write_all(b)?;
        Ok(b.len())
    }

    #[inline]
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        let end = self.at + b.len();
        match self.buf.get_mut(self.at..end) {
            Some(to) => to.copy_from_slice(b),
            None => return Err(std::io::ErrorKind::WriteZero.into()),
        }
        self.at = end;
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `SERIAL_COOKIE_NO_RUNCONTAINER` of the Roaring format spec.
const NO_RUN_COOKIE: u32 = 12346;

fn has(care: &[u64], id: u32) -> bool {
    care.get(id as usize / 64).is_some_and(|w| w >> (id % 64) & 1 == 1)
}

/// Sets in `out` the holders in a sparse map that are in `care` and pass `keep`.
fn sparse<T>(m: &HashMap<u32, T>, care: &[u64], out: &mut [u64], keep: impl Fn(&T) -> bool) {
    for (&id, v) in m {
        if has(care, id) && keep(v) {
            out[id as usize / 64] |= 1 << (id % 64);
        }
    }
}
