//! Small counts (orders, influence) as a ladder of nested sets.

use super::{map_bytes, toggle};
use roaring::RoaringBitmap;
use std::borrow::Cow;
use std::collections::HashMap;

/// Small counts (orders, influence) as nested sets — `at_least[k - 1]`
/// holds everyone counting k or more — so `orders>=N` is a stored set, and
/// a dense one costs a bit a customer. Counts above the ladder, which few
/// reach, are kept exactly on the side.
#[derive(Debug, Clone, Default)]
pub(super) struct Counts {
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

    pub(super) fn set(&mut self, id: u32, n: u32) {
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

    pub(super) fn at_least<'a>(&'a self, n: u32, universe: &'a RoaringBitmap) -> Cow<'a, RoaringBitmap> {
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

    pub(super) fn bytes(&self) -> usize {
        self.at_least.iter().map(RoaringBitmap::serialized_size).sum::<usize>() + map_bytes(&self.big)
    }
}
