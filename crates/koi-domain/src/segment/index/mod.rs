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
//!
//! | file | room for |
//! |---|---|
//! | `mod.rs` | [`SegmentIndex`] and [`Value`]: the API, loading and mutation |
//! | `eval.rs` | evaluation: an expression over plain bitsets |
//! | `columns.rs` | range columns (dates, money) with value bands |
//! | `scan.rs` | the vectorised pass over a column's band bytes |
//! | `counts.rs` | small counts (orders, influence) as nested sets |

mod columns;
mod counts;
mod eval;
mod scan;
#[cfg(test)]
mod tests;

use super::facts::{CustomerFacts, StoreLocations};
use super::{CouponHold, Expr, RfmDim, Stage, RFM_BANDS};
use crate::group::GroupKind;
use crate::Millis;
use columns::Column;
use counts::Counts;
use roaring::RoaringBitmap;
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
    Points(u32),
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
    /// Group id → its present members.
    groups: HashMap<i64, RoaringBitmap>,
    /// Members of some group of the kind, by [`GroupKind::ALL`] order.
    group_kinds: [RoaringBitmap; 6],
    /// How many groups each customer is in.
    in_groups: Counts,
    /// Customer → the groups they are in: a re-sync takes them out of
    /// exactly those, not out of every group the corp has.
    member_of: HashMap<u32, Box<[i64]>>,
    points: Counts,
    /// (template, state) → the customers holding such a coupon.
    coupons: HashMap<(i64, CouponHold), RoaringBitmap>,
    /// Customer → the (template, state) pairs they are in.
    coupons_of: HashMap<u32, Box<[(i64, CouponHold)]>>,
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
            groups: HashMap::new(),
            group_kinds: Default::default(),
            in_groups: Counts::default(),
            member_of: HashMap::new(),
            points: Counts::default(),
            coupons: HashMap::new(),
            coupons_of: HashMap::new(),
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
        self.take_out_of_groups(id);
        self.points.set(id, 0);
        self.take_out_of_coupons(id);
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
        self.set_groups(id, &facts.groups);
        self.set_value(id, Value::Points(facts.points));
        self.set_coupons(id, &facts.coupons);
    }

    /// Replaces the (template, state) pairs of the coupons a customer holds.
    pub fn set_coupons(&mut self, id: u32, coupons: &std::collections::BTreeSet<(i64, CouponHold)>) -> bool {
        if !self.contains(id) {
            return false;
        }
        self.take_out_of_coupons(id);
        for &k in coupons {
            self.coupons.entry(k).or_default().insert(id);
        }
        if !coupons.is_empty() {
            self.coupons_of.insert(id, coupons.iter().copied().collect());
        }
        true
    }

    fn take_out_of_coupons(&mut self, id: u32) {
        for k in self.coupons_of.remove(&id).unwrap_or_default().iter() {
            if let Some(b) = self.coupons.get_mut(k) {
                b.remove(id);
                if b.is_empty() {
                    self.coupons.remove(k);
                }
            }
        }
    }

    /// Replaces the groups the customer is in (with each group's kind):
    /// the change log names a customer whose joins, leaves or groups'
    /// kinds changed, and their whole membership is read again.
    pub fn set_groups(&mut self, id: u32, groups: &std::collections::BTreeMap<i64, GroupKind>) -> bool {
        if !self.contains(id) {
            return false;
        }
        self.take_out_of_groups(id);
        for &g in groups.keys() {
            self.groups.entry(g).or_default().insert(id);
        }
        for (i, kind) in GroupKind::ALL.iter().enumerate() {
            toggle(&mut self.group_kinds[i], id, groups.values().any(|k| k == kind));
        }
        self.in_groups.set(id, u32::try_from(groups.len()).unwrap_or(u32::MAX));
        if !groups.is_empty() {
            self.member_of.insert(id, groups.keys().copied().collect());
        }
        true
    }

    fn take_out_of_groups(&mut self, id: u32) {
        for g in self.member_of.remove(&id).unwrap_or_default().iter() {
            if let Some(b) = self.groups.get_mut(g) {
                b.remove(id);
                if b.is_empty() {
                    self.groups.remove(g);
                }
            }
        }
        self.group_kinds.iter_mut().for_each(|b| _ = b.remove(id));
        self.in_groups.set(id, 0);
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
            Value::Points(n) => self.points.set(id, n),
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
        let groups = self.groups.values().map(|b| b.serialized_size()).sum::<usize>()
            + map_bytes(&self.groups)
            + self.group_kinds.iter().map(|b| b.serialized_size()).sum::<usize>()
            + self.in_groups.bytes()
            + map_bytes(&self.member_of)
            + self.member_of.values().map(|g| g.len() * 8).sum::<usize>();
        let fields = map_bytes(&self.fields)
            + self
                .fields
                .iter()
                .map(|(k, m)| k.len() + map_bytes(m) + m.values().map(String::capacity).sum::<usize>())
                .sum::<usize>();
        (keyed + sets + columns + fields + groups) as f64 / self.len() as f64
    }
}

/// hashbrown's real footprint: buckets (capacity ÷ 7/8) of entry + control byte.
fn map_bytes<K, V>(m: &HashMap<K, V>) -> usize {
    m.capacity() * 8 / 7 * (std::mem::size_of::<(K, V)>() + 1)
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
