//! [`SegmentIndex`]: one corp's customers as RoaringBitmaps over dense ids,
//! plus compact columns for the conditions a bitmap cannot hold (dates,
//! counts, money, custom fields, home location). The engine keeps it in sync
//! from the change log; every mutation is visible to the next query.

use super::facts::{within, CustomerFacts, StoreLocations};
use super::{Cond, Expr, RfmDim, Stage, RFM_BANDS};
use crate::Millis;
use roaring::RoaringBitmap;
use std::collections::HashMap;

/// `last_active` of a customer never seen active.
const NEVER: Millis = Millis::MIN;

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
#[derive(Debug, Clone, Default)]
pub struct SegmentIndex {
    universe: RoaringBitmap,
    tags: HashMap<String, RoaringBitmap>,
    stores: HashMap<i64, RoaringBitmap>,
    staff: HashMap<i64, RoaringBitmap>,
    codes: HashMap<i64, RoaringBitmap>,
    stages: [RoaringBitmap; 5],
    /// `rfm[dim][band - 1]`.
    rfm: [[RoaringBitmap; 5]; 3],
    added_at: Vec<Millis>,
    /// [`NEVER`] when never active.
    last_active: Vec<Millis>,
    orders: Vec<u32>,
    spent: Vec<i64>,
    influence: Vec<u32>,
    /// (lat, lng); NaN when unknown.
    home: Vec<(f32, f32)>,
    /// Field name → id → value: most fields are filled by few customers.
    fields: HashMap<String, HashMap<u32, String>>,
    store_locations: StoreLocations,
    /// Stands in for sets nobody is in, so lookups can borrow.
    empty: RoaringBitmap,
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
        let i = id as usize;
        if i >= self.added_at.len() {
            let n = i + 1;
            self.added_at.resize(n, 0);
            self.last_active.resize(n, NEVER);
            self.orders.resize(n, 0);
            self.spent.resize(n, 0);
            self.influence.resize(n, 0);
            self.home.resize(n, (f32::NAN, f32::NAN));
        }
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
        let i = id as usize;
        (self.added_at[i], self.last_active[i], self.orders[i], self.spent[i]) = (0, NEVER, 0, 0);
        self.influence[i] = 0;
        self.home[i] = (f32::NAN, f32::NAN);
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
            Some(b) => toggle(b, id, on),
            None if on => _ = self.tags.insert(tag.to_string(), RoaringBitmap::from_iter([id])),
            None => {}
        }
        self.tags.retain(|_, b| !b.is_empty());
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
        let i = id as usize;
        match value {
            Value::AddedAt(t) => self.added_at[i] = t,
            Value::LastActive(t) => self.last_active[i] = t.unwrap_or(NEVER),
            Value::Orders(n) => self.orders[i] = n,
            Value::SpentFen(f) => self.spent[i] = f,
            Value::Influence(n) => self.influence[i] = n,
            Value::Home(h) => self.home[i] = h.unwrap_or((f32::NAN, f32::NAN)),
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
        match e {
            Expr::And(v) => self.and(v),
            Expr::Or(v) => v.iter().fold(RoaringBitmap::new(), |acc, e| acc | self.evaluate(e)),
            Expr::Not(e) => &self.universe - self.evaluate(e),
            Expr::Cond(c) => self.leaf(c),
        }
    }

    /// The exact number of customers in the segment.
    pub fn count(&self, e: &Expr) -> u64 {
        self.evaluate(e).len()
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

    /// Estimated memory per customer: serialized bitmap sizes plus columns.
    pub fn bytes_per_customer(&self) -> f64 {
        if self.is_empty() {
            return 0.0;
        }
        let maps = self.tags.values().map(RoaringBitmap::serialized_size).sum::<usize>()
            + [&self.stores, &self.staff, &self.codes]
                .into_iter()
                .flat_map(|m| m.values())
                .map(RoaringBitmap::serialized_size)
                .sum::<usize>();
        let sets = self.universe.serialized_size()
            + self.stages.iter().chain(self.rfm.iter().flatten()).map(RoaringBitmap::serialized_size).sum::<usize>();
        let columns = self.added_at.len() * (8 + 8 + 4 + 8 + 4 + 8);
        let fields =
            self.fields.iter().map(|(k, m)| k.len() + m.values().map(|v| 4 + v.len()).sum::<usize>()).sum::<usize>();
        (maps + sets + columns + fields) as f64 / self.len() as f64
    }

    /// AND: the most selective operand seeds the result and the rest only
    /// narrow it — NOT subtracts instead of building a complement, and
    /// column conditions scan just the survivors instead of everyone.
    fn and(&self, v: &[Expr]) -> RoaringBitmap {
        let mut order: Vec<&Expr> = v.iter().collect();
        order.sort_by_key(|e| self.cost(e));
        let mut acc: Option<RoaringBitmap> = None;
        for e in order {
            acc = Some(match (acc, e) {
                (None, _) => self.evaluate(e),
                (Some(a), _) if a.is_empty() => return a,
                (Some(a), Expr::Not(inner)) => a - self.evaluate(inner),
                (Some(a), Expr::Cond(c)) if !self.is_bitmap(c) => self.scan(c, a.iter()),
                (Some(a), _) => a & self.evaluate(e),
            });
        }
        acc.unwrap_or_else(|| self.universe.clone())
    }

    /// A rough upper bound of the work (and result size) of an operand.
    fn cost(&self, e: &Expr) -> u64 {
        let u = self.len();
        match e {
            Expr::And(v) => v.iter().map(|e| self.cost(e)).min().unwrap_or(u),
            Expr::Or(v) => v.iter().map(|e| self.cost(e)).fold(0, u64::saturating_add),
            Expr::Not(_) => u + 1,
            Expr::Cond(c) => self.bitmap(c).map_or(2 * u + 2, RoaringBitmap::len),
        }
    }

    fn is_bitmap(&self, c: &Cond) -> bool {
        matches!(c, Cond::Tag(_) | Cond::Store(_) | Cond::Staff(_) | Cond::Code(_) | Cond::Stage(_) | Cond::Rfm { .. })
    }

    /// The stored bitmap of a set condition (`None` for column conditions
    /// and for sets nobody is in).
    fn bitmap(&self, c: &Cond) -> Option<&RoaringBitmap> {
        let empty = &self.empty;
        match c {
            Cond::Tag(t) => Some(self.tags.get(t).unwrap_or(empty)),
            Cond::Store(s) => Some(self.stores.get(s).unwrap_or(empty)),
            Cond::Staff(s) => Some(self.staff.get(s).unwrap_or(empty)),
            Cond::Code(s) => Some(self.codes.get(s).unwrap_or(empty)),
            Cond::Stage(s) => Some(&self.stages[s.index()]),
            Cond::Rfm { dim, band } if RFM_BANDS.contains(band) => Some(&self.rfm[dim.index()][*band as usize - 1]),
            Cond::Rfm { .. } => Some(empty),
            _ => None,
        }
    }

    fn leaf(&self, c: &Cond) -> RoaringBitmap {
        if let Some(b) = self.bitmap(c) {
            return b.clone();
        }
        if let Cond::Field { name, op, value } = c {
            // Fields are sparse: walk the holders, not everyone.
            let Some(m) = self.fields.get(name) else { return RoaringBitmap::new() };
            return m.iter().filter(|(_, a)| op.test(a, value)).map(|(&id, _)| id).collect();
        }
        self.scan(c, self.universe.iter())
    }

    /// The ids (ascending) that satisfy a column condition.
    fn scan(&self, c: &Cond, ids: impl Iterator<Item = u32>) -> RoaringBitmap {
        let at = |i: u32| i as usize;
        let keep: Box<dyn Fn(u32) -> bool + '_> = match c {
            Cond::AddedBetween { from_ms, to_ms } => {
                Box::new(move |i| (*from_ms..*to_ms).contains(&self.added_at[at(i)]))
            }
            Cond::LastActiveBefore(t) => Box::new(move |i| {
                let a = self.last_active[at(i)];
                a == NEVER || a < *t
            }),
            Cond::LastActiveAfter(t) => Box::new(move |i| {
                let a = self.last_active[at(i)];
                a != NEVER && a >= *t
            }),
            Cond::OrdersAtLeast(n) => Box::new(move |i| self.orders[at(i)] >= *n),
            Cond::SpentAtLeast(f) => Box::new(move |i| self.spent[at(i)] >= *f),
            Cond::InfluenceAtLeast(n) => Box::new(move |i| self.influence[at(i)] >= *n),
            Cond::Field { name, op, value } => match self.fields.get(name) {
                Some(m) => Box::new(move |i| m.get(&i).is_some_and(|a| op.test(a, value))),
                None => return RoaringBitmap::new(),
            },
            Cond::WithinKm { store_id, km } => match self.store_locations.get(store_id) {
                Some(&store) => Box::new(move |i| {
                    let h = self.home[at(i)];
                    !h.0.is_nan() && within(h, store, *km)
                }),
                None => return RoaringBitmap::new(),
            },
            _ => match self.bitmap(c) {
                Some(b) => return ids.filter(|&i| b.contains(i)).collect(),
                None => return RoaringBitmap::new(),
            },
        };
        // Ascending ids append to the bitmap's last container: no search.
        RoaringBitmap::from_sorted_iter(ids.filter(|&i| keep(i))).unwrap_or_default()
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
            0i64..20,
            prop::option::of(0i64..20),
            0u32..5,
            0i64..1000,
            0u32..4,
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

    fn arb_cond() -> impl Strategy<Value = Cond> {
        prop_oneof![
            prop::sample::select(TAGS.to_vec()).prop_map(|t| Cond::Tag(t.into())),
            (1i64..6).prop_map(Cond::Store),
            (1i64..4).prop_map(Cond::Staff),
            (1i64..4).prop_map(Cond::Code),
            prop::sample::select(Stage::ALL.to_vec()).prop_map(Cond::Stage),
            (prop::sample::select(RfmDim::ALL.to_vec()), 1u8..=5).prop_map(|(dim, band)| Cond::Rfm { dim, band }),
            (0i64..22, 0i64..10).prop_map(|(a, n)| Cond::AddedBetween { from_ms: a, to_ms: a + n }),
            (0i64..22).prop_map(Cond::LastActiveBefore),
            (0i64..22).prop_map(Cond::LastActiveAfter),
            (0u32..6).prop_map(Cond::OrdersAtLeast),
            (0i64..1000).prop_map(Cond::SpentAtLeast),
            (0u32..5).prop_map(Cond::InfluenceAtLeast),
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
            (id.clone(), 0u32..6).prop_map(|(i, o)| Op::Orders(i, o)),
            (id.clone(), 0u32..5).prop_map(|(i, n)| Op::Influence(i, n)),
            (id.clone(), prop::option::of(0i64..22)).prop_map(|(i, a)| Op::Active(i, a)),
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
            ops in prop::collection::vec(arb_op(300), 0..60),
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
    fn bytes_per_customer_is_a_small_positive_number() {
        let index = tagged(100_000);
        let b = index.bytes_per_customer();
        assert!(b > 40.0 && b < 44.0, "{b}");
        assert_eq!(SegmentIndex::new().bytes_per_customer(), 0.0);
    }
}
