//! [`SegmentIndex`]: one corp's customers as RoaringBitmaps over dense ids,
//! plus compact columns for the conditions a bitmap cannot hold (dates,
//! money, custom fields, home location). The engine keeps it in sync from
//! the change log; every mutation is visible to the next query.
//!
//! Memory is the budget (≤ 32 B per customer): times and money are `u32`
//! steps with the rare odd value kept whole on the side, counts are nested
//! sets, and what few customers have (a home, a custom field, a big count)
//! lives in sparse maps; a byte per customer and column names the value's
//! band, so a range reads bytes rather than values.
//!
//! Evaluation works on plain bitsets (a bit a customer) rather than on
//! RoaringBitmaps: roaring 0.10 intersects and unites sparse containers by
//! branchy merges and builds then shrinks dense ones, which cost more than a
//! word loop over everyone. Stored sets are read container by container
//! into the bitsets, and an AND answers its later operands (down through
//! ORs and NOTs) only for the customers its earlier ones left.

use super::facts::{within, CustomerFacts, StoreLocations};
use super::{Cond, Expr, RfmDim, Stage, RFM_BANDS};
use crate::Millis;
use roaring::RoaringBitmap;
use std::borrow::Cow;
use std::collections::HashMap;

/// A column value, for [`SegmentIndex::set_value`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    AddedAt(Millis),
    LastActive(Option<Millis>),
    Orders(u32),
    SpentFen(i64),
    Influence(u32),
    /// `None` removes the field.
    Field {
        name: String,
        value: Option<String>,
    },
    Home(Option<(f32, f32)>),
}

/// The per-corp segment index. Ids are dense (0, 1, 2, …): the columns are
/// `Vec`s indexed by id, so a sparse id space would waste memory.
#[derive(Debug, Clone)]
pub struct SegmentIndex {
    universe: RoaringBitmap,
    tags: HashMap<String, RoaringBitmap>,
    stores: HashMap<i64, RoaringBitmap>,
    staff: HashMap<i64, RoaringBitmap>,
    codes: HashMap<i64, RoaringBitmap>,
    stages: [RoaringBitmap; 5],
    /// `rfm[dim][band - 1]`.
    rfm: [[RoaringBitmap; 5]; 3],
    /// Whole seconds: WeCom's clock ticks in seconds.
    added_at: Column,
    /// Whole seconds; no value when never active.
    last_active: Column,
    spent: Column,
    orders: Counts,
    influence: Counts,
    /// Few customers share where they live.
    home: HashMap<u32, (f32, f32)>,
    /// Field name → id → value: most fields are filled by few customers.
    fields: HashMap<String, HashMap<u32, String>>,
    store_locations: StoreLocations,
    /// Stands in for sets nobody is in, so lookups can borrow.
    empty: RoaringBitmap,
}

impl Default for SegmentIndex {
    fn default() -> Self {
        Self {
            universe: RoaringBitmap::new(),
            tags: HashMap::new(),
            stores: HashMap::new(),
            staff: HashMap::new(),
            codes: HashMap::new(),
            stages: Default::default(),
            rfm: Default::default(),
            added_at: Column::new(1000),
            last_active: Column::new(1000),
            spent: Column::new(1),
            orders: Counts::default(),
            influence: Counts::default(),
            home: HashMap::new(),
            fields: HashMap::new(),
            store_locations: StoreLocations::new(),
            empty: RoaringBitmap::new(),
        }
    }
}

impl SegmentIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of customers.
    pub fn len(&self) -> u64 {
        self.universe.len()
    }

    pub fn is_empty(&self) -> bool {
        self.universe.is_empty()
    }

    pub fn contains(&self, id: u32) -> bool {
        self.universe.contains(id)
    }

    /// Adds a customer with no tags, stores, staff or codes, stage
    /// [`Stage::New`], unscored RFM and zeroed columns. Returns false (and
    /// changes nothing) when the id is already present.
    pub fn add_customer(&mut self, id: u32) -> bool {
        if !self.universe.insert(id) {
            return false;
        }
        for c in [&mut self.added_at, &mut self.last_active, &mut self.spent] {
            c.grow(id as usize + 1);
        }
        self.added_at.set(id, Some(0));
        self.spent.set(id, Some(0));
        self.stages[Stage::New.index()].insert(id);
        true
    }

    /// Removes a customer from every set and clears their columns, so a
    /// reused id starts clean. Returns false when absent.
    pub fn remove_customer(&mut self, id: u32) -> bool {
        if !self.universe.remove(id) {
            return false;
        }
        fn drop_from<K>(map: &mut HashMap<K, RoaringBitmap>, id: u32) {
            map.retain(|_, b| {
                b.remove(id);
                !b.is_empty()
            });
        }
        drop_from(&mut self.tags, id);
        drop_from(&mut self.stores, id);
        drop_from(&mut self.staff, id);
        drop_from(&mut self.codes, id);
        self.stages.iter_mut().chain(self.rfm.iter_mut().flatten()).for_each(|b| {
            b.remove(id);
        });
        self.fields.retain(|_, m| {
            m.remove(&id);
            !m.is_empty()
        });
        for c in [&mut self.added_at, &mut self.last_active, &mut self.spent] {
            c.set(id, None);
        }
        self.orders.set(id, 0);
        self.influence.set(id, 0);
        self.home.remove(&id);
        true
    }

    /// Loads one customer whole (initial load, or a re-sync). Replaces what
    /// the index held for `facts.id`.
    pub fn insert(&mut self, facts: &CustomerFacts) {
        let id = facts.id;
        self.remove_customer(id);
        self.add_customer(id);
        facts.tags.iter().for_each(|t| _ = self.set_tag(id, t, true));
        facts.stores.iter().for_each(|&s| _ = self.set_store(id, s, true));
        facts.staff.iter().for_each(|&s| _ = self.set_staff(id, s, true));
        facts.codes.iter().for_each(|&s| _ = self.set_code(id, s, true));
        self.set_stage(id, facts.stage);
        for dim in RfmDim::ALL {
            self.set_rfm(id, dim, facts.rfm[dim.index()]);
        }
        self.set_value(id, Value::AddedAt(facts.added_at));
        self.set_value(id, Value::LastActive(facts.last_active));
        self.set_value(id, Value::Orders(facts.orders));
        self.set_value(id, Value::SpentFen(facts.spent_fen));
        self.set_value(id, Value::Influence(facts.influence));
        self.set_value(id, Value::Home(facts.home));
        for (name, value) in &facts.fields {
            self.set_value(id, Value::Field { name: name.clone(), value: Some(value.clone()) });
        }
    }

    /// Tags or untags. Mutations of an absent customer change nothing and
    /// return false: the change log may still carry events for a removed one.
    pub fn set_tag(&mut self, id: u32, tag: &str, on: bool) -> bool {
        if !self.contains(id) {
            return false;
        }
        match self.tags.get_mut(tag) {
            Some(b) => {
                toggle(b, id, on);
                if b.is_empty() {
                    self.tags.remove(tag);
                }
            }
            None if on => _ = self.tags.insert(tag.to_string(), RoaringBitmap::from_iter([id])),
            None => {}
        }
        true
    }

    pub fn set_store(&mut self, id: u32, store: i64, on: bool) -> bool {
        self.contains(id) && set_in(&mut self.stores, store, id, on)
    }

    pub fn set_staff(&mut self, id: u32, staff: i64, on: bool) -> bool {
        self.contains(id) && set_in(&mut self.staff, staff, id, on)
    }

    pub fn set_code(&mut self, id: u32, code: i64, on: bool) -> bool {
        self.contains(id) && set_in(&mut self.codes, code, id, on)
    }

    /// Moves the customer to `stage`: a customer is in exactly one stage.
    pub fn set_stage(&mut self, id: u32, stage: Stage) -> bool {
        if !self.contains(id) {
            return false;
        }
        for (i, b) in self.stages.iter_mut().enumerate() {
            toggle(b, id, i == stage.index());
        }
        true
    }

    /// Sets (or with `None` clears) the band of one RFM dimension. A band
    /// outside 1..=5 changes nothing and returns false.
    pub fn set_rfm(&mut self, id: u32, dim: RfmDim, band: Option<u8>) -> bool {
        if !self.contains(id) || band.is_some_and(|b| !RFM_BANDS.contains(&b)) {
            return false;
        }
        for (i, b) in self.rfm[dim.index()].iter_mut().enumerate() {
            toggle(b, id, band == Some(i as u8 + 1));
        }
        true
    }

    pub fn set_value(&mut self, id: u32, value: Value) -> bool {
        if !self.contains(id) {
            return false;
        }
        match value {
            Value::AddedAt(t) => self.added_at.set(id, Some(t)),
            Value::LastActive(t) => self.last_active.set(id, t),
            Value::Orders(n) => self.orders.set(id, n),
            Value::SpentFen(f) => self.spent.set(id, Some(f)),
            Value::Influence(n) => self.influence.set(id, n),
            Value::Home(Some(h)) => _ = self.home.insert(id, h),
            Value::Home(None) => _ = self.home.remove(&id),
            Value::Field { name, value: Some(v) } => _ = self.fields.entry(name).or_default().insert(id, v),
            Value::Field { name, value: None } => {
                if let Some(m) = self.fields.get_mut(&name) {
                    m.remove(&id);
                    if m.is_empty() {
                        self.fields.remove(&name);
                    }
                }
            }
        }
        true
    }

    /// Sets (or with `None` forgets) a store's coordinates for `within:`.
    pub fn set_store_location(&mut self, store_id: i64, at: Option<(f64, f64)>) {
        match at {
            Some(p) => _ = self.store_locations.insert(store_id, p),
            None => _ = self.store_locations.remove(&store_id),
        }
    }

    /// The customers in the segment.
    pub fn evaluate(&self, e: &Expr) -> RoaringBitmap {
        self.run(e, |words| {
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            RoaringBitmap::from_lsb0_bytes(0, &bytes)
        })
    }

    /// The exact number of customers in the segment.
    pub fn count(&self, e: &Expr) -> u64 {
        self.run(e, |words| words.iter().map(|w| u64::from(w.count_ones())).sum())
    }

    /// The customers in the segment, ascending: what a mass send or an
    /// export walks. Faster than iterating [`SegmentIndex::evaluate`].
    pub fn ids(&self, e: &Expr) -> Vec<u32> {
        self.run(e, |words| {
            let mut out = Vec::with_capacity(words.iter().map(|w| w.count_ones() as usize).sum());
            for (i, &w) in words.iter().enumerate() {
                let mut bits = w;
                while bits != 0 {
                    out.push(i as u32 * 64 + bits.trailing_zeros());
                    bits &= bits - 1;
                }
            }
            out
        })
    }

    /// Up to `n` members spread evenly over the id range (not just the
    /// oldest ids), in ascending order; the same for the same index.
    pub fn sample(&self, e: &Expr, n: usize) -> Vec<u32> {
        let b = self.evaluate(e);
        let len = b.len();
        if n as u64 >= len {
            return b.iter().collect();
        }
        (0..n as u64).filter_map(|k| b.select((k * len / n as u64) as u32)).collect()
    }

    /// Memory per customer: bitmaps at their serialized size (what roaring
    /// holds, give or take the container headers), columns at their
    /// capacity, maps at their buckets.
    pub fn bytes_per_customer(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let sized = |b: &RoaringBitmap| b.serialized_size();
        let keyed = self.tags.iter().map(|(k, b)| k.len() + sized(b)).sum::<usize>()
            + [&self.stores, &self.staff, &self.codes].into_iter().flat_map(|m| m.values()).map(sized).sum::<usize>()
            + [&self.tags].into_iter().map(map_bytes).sum::<usize>()
            + [&self.stores, &self.staff, &self.codes].into_iter().map(map_bytes).sum::<usize>();
        let sets =
            sized(&self.universe) + self.stages.iter().chain(self.rfm.iter().flatten()).map(sized).sum::<usize>();
        let columns = [&self.added_at, &self.last_active, &self.spent].into_iter().map(Column::bytes).sum::<usize>()
            + self.orders.bytes()
            + self.influence.bytes()
            + map_bytes(&self.home);
        let fields = map_bytes(&self.fields)
            + self
                .fields
                .iter()
                .map(|(k, m)| k.len() + map_bytes(m) + m.values().map(String::capacity).sum::<usize>())
                .sum::<usize>();
        (keyed + sets + columns + fields) as f64 / self.len() as f64
    }

    /// Hands `then` the segment as [`Words`], within the universe.
    fn run<T>(&self, e: &Expr, then: impl FnOnce(&[u64]) -> T) -> T {
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

/// Which bands a range takes: `first..first + n_sure` and `none` for sure,
/// `edges` after a look at the exact value.
#[derive(Debug, Clone, Copy)]
struct Pick {
    first: u8,
    n_sure: u8,
    none: u8,
    edges: [u8; 2],
}

impl Pick {
    /// Bit 0: taken for sure; bit 1: look at the value.
    fn flag(self, b: u8) -> u8 {
        u8::from(b.wrapping_sub(self.first) < self.n_sure || b == self.none)
            | u8::from(b == self.edges[0] || b == self.edges[1]) << 1
    }
}

/// One block of a column scan: for each word with someone in `care`, the
/// customers taken for sure go to `out` and those to look at to `edge`.
fn scan(bands: &[u8], care: &[u64], out: &mut [u64], first_id: u32, pick: Pick, edge: &mut Vec<u32>) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { scan_avx2(bands, care, out, first_id, pick, edge) };
    }
    scan_with(bands, care, out, first_id, pick, edge, |b| sixty_four(b, pick));
}

/// [`scan`] compiled for AVX2, so the 32-byte compares inline into it.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scan_avx2(bands: &[u8], care: &[u64], out: &mut [u64], first_id: u32, pick: Pick, edge: &mut Vec<u32>) {
    // SAFETY: this function runs only where AVX2 is (its caller checks).
    scan_with(bands, care, out, first_id, pick, edge, |b| unsafe { sixty_four_avx2(b, pick) });
}

#[inline(always)]
fn scan_with(
    bands: &[u8],
    care: &[u64],
    out: &mut [u64],
    first_id: u32,
    pick: Pick,
    edge: &mut Vec<u32>,
    kernel: impl Fn(&[u8; 64]) -> (u64, u64),
) {
    for ((w, (o, &c)), chunk) in out.iter_mut().zip(care).enumerate().zip(bands.chunks(64)) {
        if c == 0 {
            *o = 0;
            continue;
        }
        let (sure, check) = match <&[u8; 64]>::try_from(chunk) {
            Ok(chunk) => kernel(chunk),
            Err(_) => chunk.iter().enumerate().fold((0, 0), |(s, c), (j, &b)| {
                (s | u64::from(pick.flag(b) & 1) << j, c | u64::from(pick.flag(b) >> 1) << j)
            }),
        };
        let mut check = check & c;
        while check != 0 {
            edge.push(first_id + w as u32 * 64 + check.trailing_zeros());
            check &= check - 1;
        }
        *o = sure & c;
    }
}

/// [`sixty_four`] 32 bands a compare. Not itself `target_feature`: it
/// inlines into [`scan_avx2`], which is.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn sixty_four_avx2(bands: &[u8; 64], pick: Pick) -> (u64, u64) {
    use std::arch::x86_64::*;
    let first = _mm256_set1_epi8(pick.first as i8);
    let n_sure = _mm256_set1_epi8(pick.n_sure as i8);
    let none = _mm256_set1_epi8(pick.none as i8);
    let e0 = _mm256_set1_epi8(pick.edges[0] as i8);
    let e1 = _mm256_set1_epi8(pick.edges[1] as i8);
    let (mut sure, mut check) = (0u64, 0u64);
    for k in 0..2 {
        let b = _mm256_loadu_si256(bands.as_ptr().add(32 * k).cast());
        let off = _mm256_sub_epi8(b, first);
        let outside = _mm256_cmpeq_epi8(_mm256_max_epu8(off, n_sure), off);
        let s = !(_mm256_movemask_epi8(outside) as u32) | _mm256_movemask_epi8(_mm256_cmpeq_epi8(b, none)) as u32;
        let c = _mm256_movemask_epi8(_mm256_or_si256(_mm256_cmpeq_epi8(b, e0), _mm256_cmpeq_epi8(b, e1))) as u32;
        sure |= u64::from(s) << (32 * k);
        check |= u64::from(c) << (32 * k);
    }
    (sure, check)
}

/// For 64 bands, which are in `first..first + n_sure` or are `none` (the
/// first mask), and which are one of `edges` (the second).
#[cfg(target_arch = "x86_64")]
fn sixty_four(bands: &[u8; 64], pick: Pick) -> (u64, u64) {
    let Pick { first, n_sure, none, edges } = pick;
    // SAFETY: SSE2 is part of every x86_64 target (the baseline the
    // compiler already assumes), and the function reads only `bands`.
    unsafe { sixty_four_sse2(bands, first, n_sure, none, edges) }
}

/// Sixteen bands a compare and a byte mask; what the compiler makes of the
/// plain loop is several times slower. `unsafe` only because the
/// intrinsics are, on the Rust version koi declares (1.85).
#[cfg(target_arch = "x86_64")]
unsafe fn sixty_four_sse2(bands: &[u8; 64], first: u8, n_sure: u8, none: u8, edges: [u8; 2]) -> (u64, u64) {
    use std::arch::x86_64::*;
    let first = _mm_set1_epi8(first as i8);
    let n_sure = _mm_set1_epi8(n_sure as i8);
    let none = _mm_set1_epi8(none as i8);
    let e0 = _mm_set1_epi8(edges[0] as i8);
    let e1 = _mm_set1_epi8(edges[1] as i8);
    let (mut sure, mut check) = (0u64, 0u64);
    for (k, sixteen) in bands.chunks_exact(16).enumerate() {
        let (lo, hi) = sixteen.split_at(8);
        let lo = i64::from_le_bytes(lo.try_into().expect("8 bytes"));
        let hi = i64::from_le_bytes(hi.try_into().expect("8 bytes"));
        let b = _mm_set_epi64x(hi, lo);
        let off = _mm_sub_epi8(b, first);
        // off < n_sure, unsigned: not max(off, n_sure) == off.
        let outside = _mm_cmpeq_epi8(_mm_max_epu8(off, n_sure), off);
        let s = !_mm_movemask_epi8(outside) & 0xffff | _mm_movemask_epi8(_mm_cmpeq_epi8(b, none));
        let c = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(b, e0), _mm_cmpeq_epi8(b, e1)));
        sure |= (s as u64) << (16 * k);
        check |= (c as u64) << (16 * k);
    }
    (sure, check)
}

#[cfg(not(target_arch = "x86_64"))]
fn sixty_four(bands: &[u8; 64], pick: Pick) -> (u64, u64) {
    bands
        .iter()
        .enumerate()
        .fold((0, 0), |(s, c), (j, &b)| (s | u64::from(pick.flag(b) & 1) << j, c | u64::from(pick.flag(b) >> 1) << j))
}

/// hashbrown's real footprint: buckets (capacity ÷ 7/8) of entry + control byte.
fn map_bytes<K, V>(m: &HashMap<K, V>) -> usize {
    m.capacity() * 8 / 7 * (std::mem::size_of::<(K, V)>() + 1)
}

/// `lo ≤ v < hi` on exact values, and whether "no value" passes.
#[derive(Debug, Clone, Copy)]
struct Range {
    lo: i128,
    hi: i128,
    none: bool,
}

impl Range {
    fn new(lo: i64, hi: i64, none: bool) -> Self {
        Self { lo: lo.into(), hi: hi.into(), none }
    }

    fn at_least(lo: i64) -> Self {
        Self { lo: lo.into(), hi: i128::from(i64::MAX) + 1, none: false }
    }

    fn holds(&self, v: Option<i64>) -> bool {
        v.map_or(self.none, |v| (self.lo..self.hi).contains(&i128::from(v)))
    }
}

/// No value.
const NONE: u32 = u32::MAX;
/// The exact value is in [`Column::odd`].
const ODD: u32 = u32::MAX - 1;
/// The band of customers with no value.
const NO_VALUE: u8 = u8::MAX;
/// A band nobody is in: bands run `0..=MAX_BOUNDS`.
const NO_BAND: u8 = u8::MAX - 1;
const MAX_BOUNDS: usize = NO_BAND as usize - 1;
/// Bands a rebalance aims for; heavy values get a band of their own on top.
const TARGET_BANDS: usize = 200;
/// No rebalance for bands smaller than this: a tiny band is cheap to check.
const MIN_REBALANCE: u32 = if cfg!(test) { 4 } else { 4096 };

/// Exact `i64` values as `u32` multiples of `unit` (4 B a customer), with
/// the rare value that is no such multiple (or out of range) kept whole on
/// the side. Bounds convert to steps exactly, so no comparison rounds.
///
/// Beside the values, one byte per customer says which of up to 254 value
/// bands (quantiles, with a value that many share in a band of its own) the
/// customer is in. A range condition reads the bytes — a quarter of the
/// values — and settles everyone in a band wholly inside or outside the
/// range; only the band straddling each end (a fraction of a percent of the
/// customers) is compared value by value. Bands rebalance when one grows
/// too big, so the answer never depends on them, only its speed.
#[derive(Debug, Clone)]
struct Column {
    unit: i64,
    steps: Vec<u32>,
    odd: HashMap<u32, i64>,
    bands: Vec<u8>,
    /// Per [`ZONE`] customers, the bands they may be in: a range then
    /// settles a whole block without reading its bytes, which for values
    /// that grow with the id (the added date) is nearly every block.
    zones: Vec<Zone>,
    /// `bounds[b]` is the least value of band `b + 1`; band 0 holds
    /// everything below `bounds[0]`. Strictly ascending.
    bounds: Vec<i64>,
    /// Customers per band, and with a value.
    sizes: Vec<u32>,
    valued: u32,
    /// Values set since the last rebalance: one rebalance (a pass over
    /// everyone) per many changes keeps `set` cheap however values arrive.
    changes: u32,
}

impl Column {
    fn new(unit: i64) -> Self {
        Self {
            unit,
            steps: Vec::new(),
            odd: HashMap::new(),
            bands: Vec::new(),
            zones: Vec::new(),
            bounds: Vec::new(),
            sizes: vec![0; MAX_BOUNDS + 1],
            valued: 0,
            changes: 0,
        }
    }

    /// Room for ids below `n`, growing by an eighth rather than doubling:
    /// the capacity is the memory.
    fn grow(&mut self, n: usize) {
        if n > self.steps.len() {
            if n > self.steps.capacity() {
                self.steps.reserve_exact(n - self.steps.len() + n / 8);
                self.bands.reserve_exact(n - self.bands.len() + n / 8);
            }
            self.steps.resize(n, NONE);
            if let Some(z) = self.zones.last_mut() {
                z.none = true;
            }
            self.bands.resize(n, NO_VALUE);
            self.zones.resize(n.div_ceil(ZONE), Zone { none: true, ..Zone::EMPTY });
        }
    }

    fn set(&mut self, id: u32, v: Option<i64>) {
        let i = id as usize;
        let slot = &mut self.steps[i];
        if *slot == ODD {
            self.odd.remove(&id);
        }
        *slot = match v {
            None => NONE,
            Some(v) => match u32::try_from(v.div_euclid(self.unit)) {
                Ok(s) if s < ODD && v.rem_euclid(self.unit) == 0 => s,
                _ => {
                    self.odd.insert(id, v);
                    ODD
                }
            },
        };
        let band = v.map_or(NO_VALUE, |v| self.band(v));
        let old = std::mem::replace(&mut self.bands[i], band);
        self.zones[i / ZONE].widen(band);
        if old != NO_VALUE {
            self.sizes[usize::from(old)] -= 1;
            self.valued -= 1;
        }
        if band == NO_VALUE {
            return;
        }
        self.sizes[usize::from(band)] += 1;
        self.valued += 1;
        self.changes = self.changes.saturating_add(1);
        let limit = MIN_REBALANCE.max(self.valued / 32);
        if self.sizes[usize::from(band)] > limit && self.changes >= limit / 2 && !self.single_valued(band) {
            self.rebalance();
        }
    }

    fn get(&self, id: u32) -> Option<i64> {
        match self.steps[id as usize] {
            NONE => None,
            ODD => Some(self.odd[&id]),
            s => Some(i64::from(s) * self.unit),
        }
    }

    fn band(&self, v: i64) -> u8 {
        self.bounds.partition_point(|&b| b <= v) as u8
    }

    /// The least value band `b` can hold.
    fn floor(&self, b: usize) -> i128 {
        if b == 0 {
            i64::MIN.into()
        } else {
            self.bounds[b - 1].into()
        }
    }

    /// A band for one value, which no rebalance can split.
    fn single_valued(&self, b: u8) -> bool {
        let b = usize::from(b);
        b > 0 && b < self.bounds.len() && self.bounds[b] == self.bounds[b - 1] + 1
    }

    /// New bounds at the quantiles of (a sample of) the values, and every
    /// customer's band again.
    fn rebalance(&mut self) {
        let stride = (self.steps.len() / 65_536).max(1);
        let mut sample: Vec<i64> = (0..self.steps.len()).step_by(stride).filter_map(|i| self.get(i as u32)).collect();
        sample.sort_unstable();
        // Heavy values first: the other bands share what they leave.
        let heavy = (sample.len() / TARGET_BANDS).max(1);
        let mut shared = sample.len();
        let mut at = 0;
        while at < sample.len() {
            let run = sample[at..].partition_point(|&x| x == sample[at]);
            if run >= heavy {
                shared -= run;
            }
            at += run;
        }
        let target = (shared / TARGET_BANDS).max(1);
        let mut bounds: Vec<i64> = Vec::with_capacity(MAX_BOUNDS);
        let (mut mass, mut at) = (0, 0);
        while at < sample.len() && bounds.len() + 2 <= MAX_BOUNDS {
            let v = sample[at];
            let run = sample[at..].partition_point(|&x| x == v);
            at += run;
            let Some(next) = v.checked_add(1) else { break };
            if run >= heavy {
                // A value this many share gets a band of its own: a bound
                // at it then settles the whole band at once.
                if mass > 0 || bounds.is_empty() {
                    bounds.push(v);
                }
                bounds.push(next);
                mass = 0;
            } else {
                mass += run;
                if mass >= target {
                    bounds.push(next);
                    mass = 0;
                }
            }
        }
        // A heavy first value may have pushed its own bound twice over an
        // empty band 0; bounds must still ascend strictly.
        bounds.dedup();
        self.bounds = bounds;
        self.sizes.iter_mut().for_each(|n| *n = 0);
        self.zones.iter_mut().for_each(|z| *z = Zone::EMPTY);
        for i in 0..self.steps.len() {
            let band = self.get(i as u32).map_or(NO_VALUE, |v| self.band(v));
            self.bands[i] = band;
            self.zones[i / ZONE].widen(band);
            if band != NO_VALUE {
                self.sizes[usize::from(band)] += 1;
            }
        }
        self.changes = 0;
    }

    /// Writes to every word of `out` the customers in `care` whose value is
    /// in `r`. Only the band bytes of words with someone in `care` are read.
    fn select(&self, r: Range, care: &[u64], out: &mut [u64]) {
        // s·unit ≥ lo ⇔ s ≥ ⌈lo / unit⌉, likewise for hi; the sentinels sit at
        // or above ODD, so clamping there keeps them out of the range.
        let unit = i128::from(self.unit);
        let step = |b: i128| b.div_euclid(unit) + i128::from(b.rem_euclid(unit) != 0);
        let clamp = |b: i128| b.clamp(0, i128::from(ODD)) as u32;
        let (lo, hi) = (clamp(step(r.lo)), clamp(step(r.hi)));
        let width = hi.saturating_sub(lo);
        let pass = |s: u32| s.wrapping_sub(lo) < width || (r.none && s == NONE);
        let exact = |i: u32| match self.steps[i as usize] {
            ODD => r.holds(self.get(i)),
            s => pass(s),
        };
        let (sure, edges) = self.bands_in(r);
        let (first, n_sure) = (sure.start, sure.end.saturating_sub(sure.start));
        let none = if r.none { NO_VALUE } else { NO_BAND };
        let pick = Pick { first, n_sure, none, edges };
        // The bands that pass for sure, and those that may.
        let sure_in = |z: &Zone| (z.min > z.max || z.min >= first && z.max - first < n_sure) && (!z.none || r.none);
        let maybe_lo = if edges[0] == NO_BAND { first } else { edges[0] };
        let maybe_hi = if edges[1] == NO_BAND { i32::from(first) + i32::from(n_sure) - 1 } else { edges[1].into() };
        let sure_out =
            |z: &Zone| (z.min > z.max || z.max < maybe_lo || i32::from(z.min) > maybe_hi) && (!z.none || !r.none);
        let mut edge = Vec::new();
        let blocks = self.zones.iter().zip(care.chunks(ZONE / 64)).zip(out.chunks_mut(ZONE / 64));
        for (i, ((z, care), out)) in blocks.enumerate() {
            if sure_in(z) {
                out.copy_from_slice(care);
            } else if sure_out(z) {
                out.fill(0);
            } else {
                let first_id = i * ZONE;
                let bands = &self.bands[first_id..self.bands.len().min(first_id + ZONE)];
                scan(bands, care, out, first_id as u32, pick, &mut edge);
            }
        }
        // Apart, so the lookups (cache and TLB misses all) overlap.
        for id in edge.into_iter().filter(|&id| exact(id)) {
            out[id as usize / 64] |= 1 << (id % 64);
        }
    }

    /// The bands wholly inside `r` (a range of band numbers) and the bands
    /// (at most two) that straddle its ends, [`NO_BAND`] when none does.
    fn bands_in(&self, r: Range) -> (std::ops::Range<u8>, [u8; 2]) {
        let mut edges = [NO_BAND; 2];
        if r.lo >= r.hi {
            return (0..0, edges);
        }
        let band = |x: i128| self.bounds.partition_point(|&b| i128::from(b) <= x);
        let low = band(r.lo);
        let first = if self.floor(low) >= r.lo {
            low
        } else {
            edges[0] = low as u8;
            low + 1
        };
        let end = if r.hi > i128::from(i64::MAX) {
            self.bounds.len() + 1
        } else {
            let high = band(r.hi);
            if self.floor(high) < r.hi {
                edges[1] = high as u8;
            }
            high
        };
        (first as u8..end.max(first) as u8, edges)
    }

    fn bytes(&self) -> usize {
        self.steps.capacity() * 4
            + self.bands.capacity()
            + self.zones.capacity() * std::mem::size_of::<Zone>()
            + self.bounds.capacity() * 8
            + self.sizes.capacity() * 4
            + map_bytes(&self.odd)
    }
}

/// Customers a [`Zone`] covers: 64 words of a bitset.
const ZONE: usize = 4096;

/// The least and greatest band in a block of customers, and whether any
/// has no value; only ever widened between rebalances, so it may claim
/// more than the block holds but never less.
#[derive(Debug, Clone, Copy)]
struct Zone {
    min: u8,
    max: u8,
    none: bool,
}

impl Zone {
    const EMPTY: Zone = Zone { min: u8::MAX, max: 0, none: false };

    fn widen(&mut self, band: u8) {
        if band == NO_VALUE {
            self.none = true;
        } else {
            self.min = self.min.min(band);
            self.max = self.max.max(band);
        }
    }
}

/// Small counts (orders, influence) as nested sets — `at_least[k - 1]`
/// holds everyone counting k or more — so `orders>=N` is a stored set, and
/// a dense one costs a bit a customer. Counts above the ladder, which few
/// reach, are kept exactly on the side.
#[derive(Debug, Clone, Default)]
struct Counts {
    at_least: [RoaringBitmap; Counts::STEPS as usize],
    big: HashMap<u32, u32>,
}

impl Counts {
    const STEPS: u32 = 16;

    fn get(&self, id: u32) -> u32 {
        match self.big.get(&id) {
            Some(&n) => n,
            None => self.at_least.partition_point(|b| b.contains(id)) as u32,
        }
    }

    fn set(&mut self, id: u32, n: u32) {
        let old = self.get(id);
        for k in old.min(n).saturating_add(1)..=old.max(n).min(Self::STEPS) {
            toggle(&mut self.at_least[k as usize - 1], id, n >= k);
        }
        if n > Self::STEPS {
            self.big.insert(id, n);
        } else if old > Self::STEPS {
            self.big.remove(&id);
        }
    }

    fn at_least<'a>(&'a self, n: u32, universe: &'a RoaringBitmap) -> Cow<'a, RoaringBitmap> {
        match n {
            0 => Cow::Borrowed(universe),
            n if n <= Self::STEPS => Cow::Borrowed(&self.at_least[n as usize - 1]),
            n => {
                let mut ids: Vec<u32> = self.big.iter().filter(|(_, &v)| v >= n).map(|(&id, _)| id).collect();
                ids.sort_unstable();
                Cow::Owned(RoaringBitmap::from_sorted_iter(ids).expect("sorted"))
            }
        }
    }

    fn bytes(&self) -> usize {
        self.at_least.iter().map(RoaringBitmap::serialized_size).sum::<usize>() + map_bytes(&self.big)
    }
}

fn toggle(b: &mut RoaringBitmap, id: u32, on: bool) {
    if on {
        b.insert(id);
    } else {
        b.remove(id);
    }
}

fn set_in(map: &mut HashMap<i64, RoaringBitmap>, key: i64, id: u32, on: bool) -> bool {
    if on {
        map.entry(key).or_default().insert(id);
    } else if let Some(b) = map.get_mut(&key) {
        b.remove(id);
        if b.is_empty() {
            map.remove(&key);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{matches, FieldOp};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    const TAGS: [&str; 5] = ["t0", "t1", "t2", "t3", "油性"];
    const FIELD_NAMES: [&str; 2] = ["size", "skin"];
    const FIELD_VALUES: [&str; 6] = ["38", "40", "4", "oily", "dry", "油性"];

    fn stores() -> StoreLocations {
        // Store 4 has no coordinates.
        [(1, (31.23, 121.47)), (2, (31.30, 121.55)), (3, (39.90, 116.40))].into_iter().collect()
    }

    fn arb_customer(id: u32) -> impl Strategy<Value = CustomerFacts> {
        let sets = (
            prop::collection::btree_set(prop::sample::select(TAGS.to_vec()).prop_map(String::from), 0..4),
            prop::collection::btree_set(1i64..5, 0..3),
            prop::collection::btree_set(1i64..4, 0..2),
            prop::collection::btree_set(1i64..4, 0..2),
            prop::sample::select(Stage::ALL.to_vec()),
            [prop::option::of(1u8..=5), prop::option::of(1u8..=5), prop::option::of(1u8..=5)],
        );
        let values = (
            arb_instant(),
            prop::option::of(arb_instant()),
            arb_count(),
            arb_spend(),
            arb_count(),
            prop::collection::btree_map(
                prop::sample::select(FIELD_NAMES.to_vec()).prop_map(String::from),
                prop::sample::select(FIELD_VALUES.to_vec()).prop_map(String::from),
                0..3,
            ),
            prop::option::of((31.0f32..31.5, 121.2f32..121.8)),
        );
        (sets, values).prop_map(move |((tags, stores, staff, codes, stage, rfm), v)| CustomerFacts {
            id,
            tags,
            stores,
            staff,
            codes,
            stage,
            rfm,
            added_at: v.0,
            last_active: v.1,
            orders: v.2,
            spent_fen: v.3,
            influence: v.4,
            fields: v.5,
            home: v.6,
        })
    }

    /// Raw milliseconds and whole seconds, which the index stores apart;
    /// few values (bands of one value each) and many (bands that straddle).
    fn arb_instant() -> impl Strategy<Value = Millis> {
        prop_oneof![
            0i64..20,
            (-2i64..20).prop_map(|s| s * 1000),
            (0i64..400).prop_map(|s| s * 1000),
            Just(i64::MIN),
            Just(i64::MAX)
        ]
    }

    /// Mostly nothing spent, as in a real corp, which makes a heavy band.
    fn arb_spend() -> impl Strategy<Value = i64> {
        prop_oneof![Just(0), -5i64..1000, 0i64..100_000, Just(i64::MAX), Just(i64::MIN), Just(i64::from(u32::MAX))]
    }

    /// Small counts, and some above the index's ladder of sets.
    fn arb_count() -> impl Strategy<Value = u32> {
        prop_oneof![0u32..5, 14u32..20, Just(u32::MAX)]
    }

    fn arb_cond() -> impl Strategy<Value = Cond> {
        prop_oneof![
            prop::sample::select(TAGS.to_vec()).prop_map(|t| Cond::Tag(t.into())),
            (1i64..6).prop_map(Cond::Store),
            (1i64..4).prop_map(Cond::Staff),
            (1i64..4).prop_map(Cond::Code),
            prop::sample::select(Stage::ALL.to_vec()).prop_map(Cond::Stage),
            (prop::sample::select(RfmDim::ALL.to_vec()), 1u8..=5).prop_map(|(dim, band)| Cond::Rfm { dim, band }),
            (arb_instant(), arb_instant()).prop_map(|(a, b)| Cond::AddedBetween { from_ms: a.min(b), to_ms: a.max(b) }),
            (-1500i64..22_000).prop_map(|a| Cond::AddedBetween { from_ms: a, to_ms: a + 3000 }),
            (-1500i64..401_000, 1i64..200_000).prop_map(|(a, w)| Cond::AddedBetween { from_ms: a, to_ms: a + w }),
            (-1500i64..401_000).prop_map(Cond::LastActiveBefore),
            (-1500i64..401_000).prop_map(Cond::LastActiveAfter),
            arb_instant().prop_map(Cond::LastActiveBefore),
            (-1500i64..22_000).prop_map(Cond::LastActiveBefore),
            arb_instant().prop_map(Cond::LastActiveAfter),
            (-1500i64..22_000).prop_map(Cond::LastActiveAfter),
            (0u32..22).prop_map(Cond::OrdersAtLeast),
            prop_oneof![-6i64..1000, 0i64..100_001, Just(i64::MAX), Just(i64::MIN)].prop_map(Cond::SpentAtLeast),
            (0u32..22).prop_map(Cond::InfluenceAtLeast),
            (
                prop::sample::select(FIELD_NAMES.to_vec()),
                prop::sample::select(vec![FieldOp::Eq, FieldOp::Lt, FieldOp::Gt, FieldOp::Contains]),
                prop::sample::select(FIELD_VALUES.to_vec())
            )
                .prop_map(|(n, op, v)| Cond::Field { name: n.into(), op, value: v.into() }),
            (1i64..5, 0u32..60).prop_map(|(store_id, k)| Cond::WithinKm { store_id, km: k as f64 / 2.0 }),
        ]
    }

    /// Depth ≤ 4.
    fn arb_expr() -> impl Strategy<Value = Expr> {
        arb_cond().prop_map(Expr::Cond).prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
                prop::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
                inner.prop_map(|e| Expr::Not(Box::new(e))),
            ]
        })
    }

    #[derive(Debug, Clone)]
    enum Op {
        Tag(u32, String, bool),
        Store(u32, i64, bool),
        Stage(u32, Stage),
        Rfm(u32, RfmDim, Option<u8>),
        Orders(u32, u32),
        Influence(u32, u32),
        Active(u32, Option<i64>),
        Added(u32, i64),
        Spent(u32, i64),
        Field(u32, String, Option<String>),
        Remove(u32),
        Readd(CustomerFacts),
    }

    fn arb_op(n: u32) -> impl Strategy<Value = Op> {
        let id = 0..n + 5;
        prop_oneof![
            (id.clone(), prop::sample::select(TAGS.to_vec()), any::<bool>()).prop_map(|(i, t, on)| Op::Tag(
                i,
                t.into(),
                on
            )),
            (id.clone(), 1i64..6, any::<bool>()).prop_map(|(i, s, on)| Op::Store(i, s, on)),
            (id.clone(), prop::sample::select(Stage::ALL.to_vec())).prop_map(|(i, s)| Op::Stage(i, s)),
            (id.clone(), prop::sample::select(RfmDim::ALL.to_vec()), prop::option::of(1u8..=5))
                .prop_map(|(i, d, b)| Op::Rfm(i, d, b)),
            (id.clone(), arb_count()).prop_map(|(i, o)| Op::Orders(i, o)),
            (id.clone(), arb_count()).prop_map(|(i, n)| Op::Influence(i, n)),
            (id.clone(), prop::option::of(arb_instant())).prop_map(|(i, a)| Op::Active(i, a)),
            (id.clone(), arb_instant()).prop_map(|(i, a)| Op::Added(i, a)),
            (id.clone(), arb_spend()).prop_map(|(i, f)| Op::Spent(i, f)),
            (
                id.clone(),
                prop::sample::select(FIELD_NAMES.to_vec()),
                prop::option::of(prop::sample::select(FIELD_VALUES.to_vec()))
            )
                .prop_map(|(i, n, v)| Op::Field(i, n.into(), v.map(String::from))),
            id.clone().prop_map(Op::Remove),
            id.prop_flat_map(arb_customer).prop_map(Op::Readd),
        ]
    }

    /// Applies `op` to both the plain customers and the index.
    fn apply(people: &mut Vec<CustomerFacts>, index: &mut SegmentIndex, op: Op) {
        let find = |people: &mut Vec<CustomerFacts>, id: u32| people.iter_mut().position(|c| c.id == id);
        let pos = match &op {
            Op::Readd(c) => find(people, c.id),
            Op::Tag(i, ..)
            | Op::Store(i, ..)
            | Op::Stage(i, _)
            | Op::Rfm(i, ..)
            | Op::Orders(i, _)
            | Op::Influence(i, _)
            | Op::Active(i, _)
            | Op::Added(i, _)
            | Op::Spent(i, _)
            | Op::Field(i, ..)
            | Op::Remove(i) => find(people, *i),
        };
        let applied = match op {
            Op::Readd(c) => {
                index.insert(&c);
                match pos {
                    Some(p) => people[p] = c,
                    None => people.push(c),
                }
                return;
            }
            Op::Remove(i) => {
                if let Some(p) = pos {
                    people.remove(p);
                }
                index.remove_customer(i)
            }
            Op::Tag(i, t, on) => {
                if let Some(p) = pos {
                    if on {
                        people[p].tags.insert(t.clone());
                    } else {
                        people[p].tags.remove(&t);
                    }
                }
                index.set_tag(i, &t, on)
            }
            Op::Store(i, s, on) => {
                if let Some(p) = pos {
                    if on {
                        people[p].stores.insert(s);
                    } else {
                        people[p].stores.remove(&s);
                    }
                }
                index.set_store(i, s, on)
            }
            Op::Stage(i, s) => {
                if let Some(p) = pos {
                    people[p].stage = s;
                }
                index.set_stage(i, s)
            }
            Op::Rfm(i, d, b) => {
                if let Some(p) = pos {
                    people[p].rfm[d.index()] = b;
                }
                index.set_rfm(i, d, b)
            }
            Op::Orders(i, o) => {
                if let Some(p) = pos {
                    people[p].orders = o;
                }
                index.set_value(i, Value::Orders(o))
            }
            Op::Influence(i, n) => {
                if let Some(p) = pos {
                    people[p].influence = n;
                }
                index.set_value(i, Value::Influence(n))
            }
            Op::Active(i, a) => {
                if let Some(p) = pos {
                    people[p].last_active = a;
                }
                index.set_value(i, Value::LastActive(a))
            }
            Op::Added(i, a) => {
                if let Some(p) = pos {
                    people[p].added_at = a;
                }
                index.set_value(i, Value::AddedAt(a))
            }
            Op::Spent(i, f) => {
                if let Some(p) = pos {
                    people[p].spent_fen = f;
                }
                index.set_value(i, Value::SpentFen(f))
            }
            Op::Field(i, n, v) => {
                if let Some(p) = pos {
                    match &v {
                        Some(v) => _ = people[p].fields.insert(n.clone(), v.clone()),
                        None => _ = people[p].fields.remove(&n),
                    }
                }
                index.set_value(i, Value::Field { name: n, value: v })
            }
        };
        assert_eq!(applied, pos.is_some(), "mutations apply to present customers only");
    }

    fn build(people: &[CustomerFacts]) -> SegmentIndex {
        let mut index = SegmentIndex::new();
        for (id, at) in stores() {
            index.set_store_location(id, Some(at));
        }
        people.iter().for_each(|c| index.insert(c));
        index
    }

    fn naive(people: &[CustomerFacts], e: &Expr) -> BTreeSet<u32> {
        let s = stores();
        people.iter().filter(|c| matches(c, e, &s)).map(|c| c.id).collect()
    }

    fn arb_people() -> impl Strategy<Value = Vec<CustomerFacts>> {
        (1u32..300).prop_flat_map(|n| (0..n).map(arb_customer).collect::<Vec<_>>())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn index_agrees_with_the_naive_evaluator(
            people in arb_people(),
            exprs in prop::collection::vec(arb_expr(), 8),
            ops in prop::collection::vec(arb_op(300), 0..200),
        ) {
            let mut people = people;
            let mut index = build(&people);
            for e in &exprs {
                let got: BTreeSet<u32> = index.evaluate(e).iter().collect();
                prop_assert_eq!(&got, &naive(&people, e), "{}", e);
                prop_assert_eq!(index.count(e), got.len() as u64);
            }
            for op in ops {
                apply(&mut people, &mut index, op);
            }
            prop_assert_eq!(index.len(), people.len() as u64);
            for e in &exprs {
                let got: BTreeSet<u32> = index.evaluate(e).iter().collect();
                prop_assert_eq!(&got, &naive(&people, e), "after mutations: {}", e);
                prop_assert_eq!(index.ids(e), got.iter().copied().collect::<Vec<_>>());
            }
        }
    }

    fn tagged(n: u32) -> SegmentIndex {
        let mut index = SegmentIndex::new();
        for id in 0..n {
            index.add_customer(id);
            index.set_tag(id, if id % 2 == 0 { "even" } else { "odd" }, true);
        }
        index
    }

    #[test]
    fn sample_spreads_and_is_bounded() {
        let index = tagged(1000);
        let e = Expr::parse("tag:even").unwrap();
        let s = index.sample(&e, 5);
        assert_eq!(s, [0, 200, 400, 600, 800]);
        assert_eq!(index.sample(&e, 10_000).len(), 500);
        assert!(index.sample(&Expr::parse("tag:none").unwrap(), 3).is_empty());
    }

    #[test]
    fn not_is_the_complement_within_the_universe() {
        let mut index = tagged(10);
        assert_eq!(index.count(&Expr::parse("NOT tag:even").unwrap()), 5);
        index.remove_customer(1);
        assert_eq!(index.count(&Expr::parse("NOT tag:even").unwrap()), 4);
        assert_eq!(index.count(&Expr::parse("stage:new").unwrap()), 9);
        index.set_stage(0, Stage::Super);
        assert_eq!(index.count(&Expr::parse("stage:new").unwrap()), 8);
        assert_eq!(index.count(&Expr::parse("stage:super").unwrap()), 1);
        assert!(!index.set_tag(1, "even", true), "removed customers stay removed");
    }

    #[test]
    fn ids_walk_dense_and_sparse_containers() {
        let mut index = SegmentIndex::new();
        for id in 0..200_000 {
            index.add_customer(id);
            // Dense in the first 64K ids, sparse in the rest.
            let on = if id < 65_536 { id % 3 != 0 } else { id % 97 == 0 };
            index.set_tag(id, "t", on);
        }
        let e = Expr::parse("tag:t").unwrap();
        assert_eq!(index.ids(&e), index.evaluate(&e).iter().collect::<Vec<_>>());
        let not = Expr::parse("NOT tag:t").unwrap();
        assert_eq!(index.ids(&not), index.evaluate(&not).iter().collect::<Vec<_>>());
        assert!(index.ids(&Expr::parse("tag:none").unwrap()).is_empty());
    }

    #[test]
    // `is_multiple_of` is newer than the Rust koi declares (1.85).
    #[allow(clippy::manual_is_multiple_of)]
    fn set_algebra_agrees_over_dense_sparse_and_missing_containers() {
        // Evaluation reads stored sets container by container: dense ones
        // as words, sparse ones as lists, absent ones as nothing, and the
        // universe has holes (removed customers).
        let dense = |id: u32| match id >> 16 {
            0 | 3 => id % 3 != 0,
            1 => id % 101 == 0,
            2 => false,
            _ => id % 2 == 0,
        };
        let sparse = |id: u32| id % 89 == 0;
        let odd = |id: u32| id % 2 == 1;
        let mut index = SegmentIndex::new();
        for id in 0..300_000u32 {
            index.add_customer(id);
            index.set_tag(id, "d", dense(id));
            index.set_tag(id, "s", sparse(id));
            index.set_tag(id, "o", odd(id));
            index.set_value(id, Value::AddedAt(i64::from(id) * 1000));
        }
        let present = |id: u32| id % 1000 != 5;
        (0..300_000).filter(|&id| !present(id)).for_each(|id| _ = index.remove_customer(id));
        let added = |id: u32| (50_000..150_000).contains(&id);
        let cases: [(&str, &dyn Fn(u32) -> bool); 8] = [
            ("tag:d AND tag:o", &|id| dense(id) && odd(id)),
            ("tag:d OR tag:s", &|id| dense(id) || sparse(id)),
            ("NOT tag:d AND tag:o", &|id| !dense(id) && odd(id)),
            ("tag:d AND NOT tag:s", &|id| dense(id) && !sparse(id)),
            ("NOT (tag:d OR tag:o)", &|id| !(dense(id) || odd(id))),
            ("tag:s OR NOT tag:d", &|id| sparse(id) || !dense(id)),
            ("(tag:d OR added:50000000..150000000) AND NOT tag:s", &|id| (dense(id) || added(id)) && !sparse(id)),
            ("tag:s AND (tag:o OR NOT added:50000000..150000000)", &|id| sparse(id) && (odd(id) || !added(id))),
        ];
        for (text, want) in cases {
            let e = Expr::parse(text).unwrap();
            let expected: Vec<u32> = (0..300_000).filter(|&id| present(id) && want(id)).collect();
            assert_eq!(index.ids(&e), expected, "{text}");
            assert_eq!(index.count(&e), expected.len() as u64, "{text}");
            assert_eq!(index.evaluate(&e).iter().collect::<Vec<_>>(), expected, "{text}");
        }
    }

    #[test]
    fn column_scans_agree_past_one_container() {
        // Big enough for the vectorised pass (not the per-survivor test).
        let mut index = SegmentIndex::new();
        for id in 0..150_000u32 {
            index.add_customer(id);
            let t = i64::from(id) * 1000 + if id % 1000 == 7 { 1 } else { 0 };
            index.set_value(id, Value::AddedAt(t));
            index.set_value(id, Value::LastActive((id % 5 != 0).then_some(t)));
        }
        index.remove_customer(10);
        let n = |s: &str| index.count(&Expr::parse(s).unwrap());
        assert_eq!(n("added:0..100000000"), 99_999);
        assert_eq!(n("added:7001..7002"), 1);
        // Never active counts as "not since"; id 10 was removed.
        assert_eq!(n("active<5000"), 4 + 30_000 - 1);
        assert_eq!(n("active>=7001"), 119_995);
    }

    #[test]
    fn bands_stay_exact_as_values_arrive_and_move() {
        // Dates arrive ascending (the newest band keeps overflowing and the
        // bands rebalance), then values jump across bands both ways.
        let n = 50_000u32;
        let mut rng = 7u64;
        let mut next = move |m: u64| {
            rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (rng >> 33) % m
        };
        let mut index = SegmentIndex::new();
        let (mut added, mut spent) = (Vec::new(), Vec::new());
        for id in 0..n {
            index.add_customer(id);
            let a = i64::from(id) * 1000 + if id % 97 == 0 { 1 } else { 0 };
            let f = if next(10) < 7 { 0 } else { next(100_000) as i64 };
            index.set_value(id, Value::AddedAt(a));
            index.set_value(id, Value::SpentFen(f));
            added.push(a);
            spent.push(f);
        }
        for _ in 0..20_000 {
            let id = next(u64::from(n)) as usize;
            added[id] = next(u64::from(n) * 1000) as i64;
            spent[id] = if next(2) == 0 { 0 } else { next(100_000) as i64 };
            index.set_value(id as u32, Value::AddedAt(added[id]));
            index.set_value(id as u32, Value::SpentFen(spent[id]));
        }
        for _ in 0..200 {
            let (from, to) = (next(u64::from(n) * 1000) as i64, next(u64::from(n) * 1000) as i64);
            let e = Expr::Cond(Cond::AddedBetween { from_ms: from.min(to), to_ms: from.max(to) });
            let want = added.iter().filter(|&&a| from.min(to) <= a && a < from.max(to)).count();
            assert_eq!(index.count(&e), want as u64, "{e}");
            let f = next(100_001) as i64;
            let want = spent.iter().filter(|&&s| s >= f).count();
            assert_eq!(index.count(&Expr::Cond(Cond::SpentAtLeast(f))), want as u64, "spent>={f}");
        }
        assert!(index.added_at.bounds.len() > 100, "the bands were built");
    }

    #[test]
    fn bytes_per_customer_is_a_small_positive_number() {
        let index = tagged(100_000);
        let b = index.bytes_per_customer();
        assert!(b > 15.0 && b < 18.0, "{b}");
        assert_eq!(SegmentIndex::new().bytes_per_customer(), 0.0);
    }
}
