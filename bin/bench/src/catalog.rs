//! The reports the bench submits: valid, unique, and never merged into one another.
//!
//! Grids and catalog items are those of the demo city of `civicgrid up` (周口市川汇区, county
//! 411602); `--counties` adds more counties of the same city. Report `n` takes item `n mod 10`,
//! a county in turn, and then the next point of a lattice kept per (item, county) whose points
//! are ≥ 110 m apart, so duplicate detection (same item, same county, within 50 m) never
//! merges two of them, while still doing its full search for every report.

use std::sync::atomic::{AtomicU64, Ordering};

use civicgrid_proto::v1::{EventSource, GeoPoint, Location, Reporter, SubmitEventRequest};

/// Grids of the demo city (code, name, centre), as in `crates/cli/src/demo.rs`.
const DEMO_GRIDS: &[(&str, &str, (f64, f64))] = &[
    ("411602001001001", "陈州街道 七一路社区 第1网格", (33.6260, 114.6420)),
    ("411602001001002", "陈州街道 七一路社区 第2网格", (33.6285, 114.6455)),
    ("411602001002001", "陈州街道 文昌社区 第1网格", (33.6310, 114.6390)),
    ("411602002001001", "人和街道 人和社区 第1网格", (33.6180, 114.6600)),
    ("411602002003001", "人和街道 东方社区 第1网格", (33.6150, 114.6650)),
    ("411602003001001", "小桥街道 小桥社区 第1网格", (33.6400, 114.6300)),
];

/// Catalog items of the demo (code, what the reporter writes), as in `crates/cli/src/demo.rs`.
pub const ITEMS: &[(&str, &str)] = &[
    ("01.01.001", "道路路面破损，坑洼积水"),
    ("01.02.003", "井盖缺失或破损，行人易跌落"),
    ("01.03.002", "路灯不亮，夜间照明不足"),
    ("02.01.001", "占道经营，流动摊贩堵塞人行道"),
    ("02.03.004", "乱贴乱画小广告"),
    ("03.01.002", "垃圾桶满溢未及时清运"),
    ("03.02.001", "建筑垃圾乱堆乱放"),
    ("04.01.003", "施工噪声扰民（夜间）"),
    ("05.02.001", "楼道堆放杂物，消防通道堵塞"),
    ("06.01.002", "邻里纠纷，需调解"),
];

/// Further counties of 周口市 (411600), used with `--counties` > 1.
const MORE_COUNTIES: &[(&str, &str, (f64, f64))] = &[
    ("411603", "淮阳区", (33.7320, 114.8860)),
    ("411621", "扶沟县", (34.0600, 114.3940)),
    ("411622", "西华县", (33.7670, 114.5290)),
    ("411623", "商水县", (33.5430, 114.6110)),
    ("411624", "沈丘县", (33.4090, 115.0980)),
    ("411625", "郸城县", (33.6450, 115.1770)),
    ("411627", "太康县", (34.0640, 114.8380)),
    ("411628", "鹿邑县", (33.8600, 115.4850)),
    ("411681", "项城市", (33.4670, 114.8750)),
];

/// Lattice spacing: 0.001° of latitude ≈ 111 m; 0.0012° of longitude ≈ 111 m at 33.6° N.
const LAT_STEP: f64 = 0.001;
const LNG_STEP: f64 = 0.0012;
const LATTICE_COLUMNS: u64 = 200;

struct Grid {
    code: String,
    name: String,
}

struct County {
    grids: Vec<Grid>,
    origin: (f64, f64),
}

/// Hands out reports.
pub struct Catalog {
    run: String,
    counties: Vec<County>,
    next: AtomicU64,
}

impl Catalog {
    /// Reports over `counties` counties (1 = the demo county only); request ids carry `run`.
    pub fn new(run: &str, counties: usize) -> Catalog {
        let mut list = vec![County {
            grids: DEMO_GRIDS.iter().map(|(c, n, _)| Grid { code: c.to_string(), name: n.to_string() }).collect(),
            origin: (33.5800, 114.5800),
        }];
        for (code, name, center) in MORE_COUNTIES.iter().take(counties.saturating_sub(1)) {
            list.push(County {
                grids: (1..=3)
                    .map(|g| Grid {
                        code: format!("{code}001001{g:03}"),
                        name: format!("{name} 第一街道 第一社区 第{g}网格"),
                    })
                    .collect(),
                origin: (center.0 - 0.03, center.1 - 0.12),
            });
        }
        Catalog { run: run.to_string(), counties: list, next: AtomicU64::new(0) }
    }

    /// How many counties reports are spread over.
    pub fn counties(&self) -> usize {
        self.counties.len()
    }

    /// The next report.
    pub fn next(&self) -> SubmitEventRequest {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let items = ITEMS.len() as u64;
        let (code, description) = ITEMS[(n % items) as usize];
        let county = &self.counties[((n / items) % self.counties.len() as u64) as usize];
        // The k-th report of this (item, county): a lattice point of its own.
        let k = n / (items * self.counties.len() as u64);
        let grid = &county.grids[(k % county.grids.len() as u64) as usize];
        let lat = county.origin.0 + (k / LATTICE_COLUMNS) as f64 * LAT_STEP;
        let lng = county.origin.1 + (k % LATTICE_COLUMNS) as f64 * LNG_STEP;
        let citizen = n.is_multiple_of(2);
        SubmitEventRequest {
            request_id: format!("bench-{}-{n}", self.run),
            source: if citizen { EventSource::CitizenApp } else { EventSource::GridWorker } as i32,
            item_code: code.to_string(),
            location: Some(Location {
                point: Some(GeoPoint { latitude: lat, longitude: lng }),
                grid_code: grid.code.clone(),
                region_code: String::new(),
                address: grid.name.clone(),
                region: None,
            }),
            description: description.to_string(),
            evidence_urls: vec![format!("https://img.example.org/bench/{}/{n}.jpg", self.run)],
            occurred_at: None,
            reporter: Some(Reporter {
                name: if citizen { "市民".into() } else { "网格员".into() },
                phone: format!("1{}{:09}", 3 + n % 7, n % 1_000_000_000),
                account_id: format!("bench-{}", n % 1000),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(r: &SubmitEventRequest) -> (f64, f64) {
        let p = r.location.as_ref().unwrap().point.as_ref().unwrap();
        (p.latitude, p.longitude)
    }

    #[test]
    fn same_item_same_county_is_always_far_apart() {
        for counties in [1, 3] {
            let c = Catalog::new("t", counties);
            let reports: Vec<_> = (0..3000).map(|_| c.next()).collect();
            for (i, a) in reports.iter().enumerate().step_by(7) {
                for b in reports.iter().skip(i + 1) {
                    let same_item = a.item_code == b.item_code;
                    let grid = |r: &SubmitEventRequest| r.location.as_ref().unwrap().grid_code[..6].to_string();
                    if same_item && grid(a) == grid(b) {
                        let (pa, pb) = (point(a), point(b));
                        let dlat = (pa.0 - pb.0) * 111_195.0;
                        let dlng = (pa.1 - pb.1) * 111_195.0 * pa.0.to_radians().cos();
                        assert!(
                            (dlat * dlat + dlng * dlng).sqrt() >= 100.0,
                            "{} and {} are close",
                            a.request_id,
                            b.request_id
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn phones_are_valid_and_ids_unique() {
        let c = Catalog::new("t", 1);
        let mut ids = std::collections::HashSet::new();
        for _ in 0..500 {
            let r = c.next();
            let phone = &r.reporter.as_ref().unwrap().phone;
            assert_eq!(phone.len(), 11);
            assert!(phone.starts_with('1') && phone.bytes().all(|b| b.is_ascii_digit()));
            assert!(ids.insert(r.request_id.clone()));
        }
    }
}
