//! Range columns: exact `i64` values (dates, money) in `u32` steps, with a
//! band byte per customer so a range reads bytes rather than values.

use super::map_bytes;
use super::scan::{scan, Pick};
use std::collections::HashMap;

/// `lo ≤ v < hi` on exact values, and whether "no value" passes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Range {
    lo: i128,
    hi: i128,
    none: bool,
}

impl Range {
    pub(super) fn new(lo: i64, hi: i64, none: bool) -> Self {
        Self { lo: lo.into(), hi: hi.into(), none }
    }

    pub(super) fn at_least(lo: i64) -> Self {
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
pub(super) struct Column {
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
    pub(super) bounds: Vec<i64>,
    /// Customers per band, and with a value.
    sizes: Vec<u32>,
    valued: u32,
    /// Values set since the last rebalance: one rebalance (a pass over
    /// everyone) per many changes keeps `set` cheap however values arrive.
    changes: u32,
}

impl Column {
    pub(super) fn new(unit: i64) -> Self {
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
    pub(super) fn grow(&mut self, n: usize) {
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

    pub(super) fn set(&mut self, id: u32, v: Option<i64>) {
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
    pub(super) fn select(&self, r: Range, care: &[u64], out: &mut [u64]) {
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

    pub(super) fn bytes(&self) -> usize {
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
