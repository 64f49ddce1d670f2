//! A uniform grid over latitude and longitude from cells to fences: which fences may hold a
//! point, or be touched by the segment between two fixes, without scanning them all.
//!
//! Cells are about [`IndexConfig::cell_m`] (500 m) square at the fences' mean latitude. A fence
//! is listed in every cell its bounding box covers; one covering more than
//! [`IndexConfig::max_fence_cells`] cells is kept on a short list every query returns instead.
//! A point looks in its own cell (one hash lookup). A segment visits the cells it passes
//! through, swept column by column (or row by row, along its longer axis), so a diagonal
//! segment does not pay for its whole bounding box; a segment that would visit more than
//! [`IndexConfig::max_segment_cells`] cells (about 2,000 km at the defaults: a teleport the
//! speed check should have refused) looks only in its two end cells, and the scan says so.
//! Candidates are supersets: the caller tests each with [`Fence::contains`] or
//! [`Fence::crossing`] (or uses [`FenceIndex::containing`] and [`FenceIndex::for_each_crossing`]).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::geo::{Crossing, Fence, METRES_PER_DEGREE, Point};

/// How the grid is cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexConfig {
    /// The cell's side, metres (default 500; kept within 10 m – 100 km).
    pub cell_m: f64,
    /// The most cells a segment query visits before falling back to its end cells (4,096).
    pub max_segment_cells: usize,
    /// Fences whose box covers more cells than this (1,024, about 16 × 16 km at the default
    /// cell) go on the list every query returns.
    pub max_fence_cells: usize,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig { cell_m: 500.0, max_segment_cells: 4_096, max_fence_cells: 1_024 }
    }
}

/// Whether a segment query visited every cell the segment passes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Every cell: the candidates hold every fence the segment touches.
    Complete,
    /// Too many cells: only the two end cells were visited.
    Capped,
}

/// The grid of fences, each kept with its id `K`; positions in the build order ("slots", `u32`)
/// name them in segment queries.
#[derive(Debug, Clone)]
pub struct FenceIndex<K> {
    entries: Vec<(K, Fence)>,
    lat_step: f64,
    lng_step: f64,
    cells: HashMap<u64, (u32, u32), BuildHasherDefault<CellHasher>>,
    slots: Vec<u32>,
    large: Vec<u32>,
    max_segment_cells: usize,
}

impl<K> FenceIndex<K> {
    /// Indexes `fences` (O(total cells covered); 20,000 fences of a few hundred metres take a
    /// few milliseconds).
    pub fn build(fences: impl IntoIterator<Item = (K, Fence)>, config: IndexConfig) -> Self {
        let entries: Vec<(K, Fence)> = fences.into_iter().collect();
        let cell_m = if config.cell_m.is_finite() { config.cell_m.clamp(10.0, 100_000.0) } else { 500.0 };
        let mean_lat = if entries.is_empty() {
            0.0
        } else {
            entries.iter().map(|(_, f)| f.bbox().center().lat).sum::<f64>() / entries.len() as f64
        };
        let cos = mean_lat.clamp(-80.0, 80.0).to_radians().cos();
        let lat_step = cell_m / METRES_PER_DEGREE;
        let lng_step = cell_m / (METRES_PER_DEGREE * cos);
        let mut index = FenceIndex {
            entries,
            lat_step,
            lng_step,
            cells: HashMap::default(),
            slots: Vec::new(),
            large: Vec::new(),
            max_segment_cells: config.max_segment_cells.max(2),
        };
        let mut pairs: Vec<(u64, u32)> = Vec::new();
        for (slot, (_, fence)) in index.entries.iter().enumerate() {
            let slot = slot as u32;
            let b = fence.bbox();
            let (r0, c0) = index.cell(Point::new(b.min_lat, b.min_lng));
            let (r1, c1) = index.cell(Point::new(b.max_lat, b.max_lng));
            let covered = (i64::from(r1) - i64::from(r0) + 1) * (i64::from(c1) - i64::from(c0) + 1);
            if covered > config.max_fence_cells as i64 {
                index.large.push(slot);
                continue;
            }
            for r in r0..=r1 {
                for c in c0..=c1 {
                    pairs.push((key(r, c), slot));
                }
            }
        }
        pairs.sort_unstable();
        index.slots = pairs.iter().map(|&(_, s)| s).collect();
        let mut start = 0;
        while start < pairs.len() {
            let k = pairs[start].0;
            let end = start + pairs[start..].iter().take_while(|(kk, _)| *kk == k).count();
            index.cells.insert(k, (start as u32, end as u32));
            start = end;
        }
        index
    }

    /// How many fences.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The fence in `slot` and its id.
    pub fn get(&self, slot: u32) -> Option<(&K, &Fence)> {
        self.entries.get(slot as usize).map(|(k, f)| (k, f))
    }

    /// The fences that may hold `p`: those listed in its cell and the large ones.
    pub fn candidates_point(&self, p: Point) -> impl Iterator<Item = (&K, &Fence)> + '_ {
        let (r, c) = self.cell(p);
        self.cell_slots(r, c).iter().chain(&self.large).map(|&s| {
            let (k, f) = &self.entries[s as usize];
            (k, f)
        })
    }

    /// The fences that hold `p`.
    pub fn containing(&self, p: Point) -> impl Iterator<Item = (&K, &Fence)> + '_ {
        self.candidates_point(p).filter(move |(_, f)| f.contains(p))
    }

    /// Fills `out` (cleared first; reuse it to avoid allocating) with the slots of the fences the
    /// segment `a`→`b` may touch, sorted and without repeats.
    pub fn candidates_segment(&self, a: Point, b: Point, out: &mut Vec<u32>) -> Scan {
        out.clear();
        let scan = self.segment_cells(a, b, |r, c| out.extend_from_slice(self.cell_slots(r, c)));
        out.extend_from_slice(&self.large);
        out.sort_unstable();
        out.dedup();
        scan
    }

    /// Calls `f` for every fence the segment `a`→`b` touches, in slot order, with where.
    pub fn for_each_crossing(
        &self,
        a: Point,
        b: Point,
        scratch: &mut Vec<u32>,
        mut f: impl FnMut(u32, &K, &Fence, &Crossing),
    ) -> Scan {
        let scan = self.candidates_segment(a, b, scratch);
        for &slot in scratch.iter() {
            let (k, fence) = &self.entries[slot as usize];
            let crossing = fence.crossing(a, b);
            if !crossing.is_empty() {
                f(slot, k, fence, &crossing);
            }
        }
        scan
    }

    fn cell(&self, p: Point) -> (i32, i32) {
        ((p.lat / self.lat_step).floor() as i32, (p.lng / self.lng_step).floor() as i32)
    }

    fn cell_slots(&self, r: i32, c: i32) -> &[u32] {
        match self.cells.get(&key(r, c)) {
            Some(&(s, e)) => &self.slots[s as usize..e as usize],
            None => &[],
        }
    }

    /// Visits every cell the segment passes through (a few extra on the edges are harmless).
    fn segment_cells(&self, a: Point, b: Point, mut visit: impl FnMut(i32, i32)) -> Scan {
        let ((ra, ca), (rb, cb)) = (self.cell(a), self.cell(b));
        let rows = (i64::from(ra) - i64::from(rb)).abs() + 1;
        let cols = (i64::from(ca) - i64::from(cb)).abs() + 1;
        if rows * cols <= 16 {
            for r in ra.min(rb)..=ra.max(rb) {
                for c in ca.min(cb)..=ca.max(cb) {
                    visit(r, c);
                }
            }
            return Scan::Complete;
        }
        if rows + cols > self.max_segment_cells as i64 {
            visit(ra, ca);
            visit(rb, cb);
            return Scan::Capped;
        }
        // Sweep the longer axis; along it the other coordinate is linear. `u` is the swept
        // coordinate (degrees), `v` the other.
        let (sweep_lng, u_step, v_step) =
            if cols >= rows { (true, self.lng_step, self.lat_step) } else { (false, self.lat_step, self.lng_step) };
        let uv = |p: Point| if sweep_lng { (p.lng, p.lat) } else { (p.lat, p.lng) };
        let (mut lo, mut hi) = (uv(a), uv(b));
        if lo.0 > hi.0 {
            std::mem::swap(&mut lo, &mut hi);
        }
        let slope = (hi.1 - lo.1) / (hi.0 - lo.0); // hi.0 > lo.0: the swept axis spans ≥ 5 cells
        let slack = v_step * 1e-9;
        let (k0, k1) = ((lo.0 / u_step).floor() as i32, (hi.0 / u_step).floor() as i32);
        for k in k0..=k1 {
            let u0 = (f64::from(k) * u_step).max(lo.0);
            let u1 = (f64::from(k + 1) * u_step).min(hi.0);
            let (v0, v1) = (lo.1 + (u0 - lo.0) * slope, lo.1 + (u1 - lo.0) * slope);
            let m0 = ((v0.min(v1) - slack) / v_step).floor() as i32;
            let m1 = ((v0.max(v1) + slack) / v_step).floor() as i32;
            for m in m0..=m1 {
                if sweep_lng { visit(m, k) } else { visit(k, m) }
            }
        }
        Scan::Complete
    }
}

fn key(r: i32, c: i32) -> u64 {
    (u64::from(r as u32) << 32) | u64::from(c as u32)
}

/// A fast hasher for cell keys (the default SipHash costs more than the rest of a lookup).
#[derive(Default)]
struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        // The SplitMix64 finaliser: every input bit reaches the high bits the table uses.
        let mut z = x ^ self.0.rotate_left(17);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.0 = z ^ (z >> 31);
    }
}

#[cfg(test)]
mod tests;
