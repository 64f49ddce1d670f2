//! The city's own geometry: regions and grids as a tree of polygons, read from a GeoJSON
//! FeatureCollection (the format of `civicgrid_democity::City::geometry_geojson`: one Polygon
//! feature per region or grid with properties `code`, `name`, `level` and `parent`).
//!
//! There is no tile server in a command center's network, so the map is drawn from these
//! polygons alone. The browser never gets all of them: [`Atlas::children`] gives the children of
//! one region, which is what one map view shows.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// What went wrong reading a geometry file.
#[derive(Debug, thiserror::Error)]
pub enum AtlasError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a FeatureCollection of the expected shape.
    #[error("geometry: {0}")]
    Format(String),
}

/// A region's level, from the city down to the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// 市.
    City,
    /// 县/区.
    County,
    /// 乡/镇/街道.
    Township,
    /// 村/社区.
    Village,
    /// 网格.
    Grid,
}

/// One region or grid.
#[derive(Debug, Clone, Serialize)]
pub struct Area {
    /// Division code (15 digits for a grid).
    pub code: String,
    /// Name.
    pub name: String,
    /// Level.
    pub level: Level,
    /// The parent's code; `None` for the city.
    pub parent: Option<String>,
    /// The outer ring, `[lng, lat]`, not repeating the first point.
    pub ring: Vec<[f64; 2]>,
    /// The ring's centroid `[lng, lat]`, where its label goes.
    pub centroid: [f64; 2],
}

/// Every area, by code, with each one's children in code order.
#[derive(Debug, Default)]
pub struct Atlas {
    areas: HashMap<String, Area>,
    children: HashMap<String, Vec<String>>,
    root: Option<String>,
}

#[derive(Deserialize)]
struct Collection {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    properties: Properties,
    geometry: Geometry,
}

#[derive(Deserialize)]
struct Properties {
    code: String,
    name: String,
    level: Level,
    parent: Option<String>,
}

#[derive(Deserialize)]
struct Geometry {
    coordinates: Vec<Vec<[f64; 2]>>,
}

impl Atlas {
    /// Reads a GeoJSON file.
    pub fn load(path: &str) -> Result<Atlas, AtlasError> {
        let text = std::fs::read_to_string(path).map_err(|source| AtlasError::Read { path: path.into(), source })?;
        Atlas::parse(&text)
    }

    /// Parses GeoJSON text.
    pub fn parse(text: &str) -> Result<Atlas, AtlasError> {
        let collection: Collection = serde_json::from_str(text).map_err(|e| AtlasError::Format(e.to_string()))?;
        let mut atlas = Atlas::default();
        for f in collection.features {
            let mut ring = f.geometry.coordinates.into_iter().next().unwrap_or_default();
            if ring.len() > 1 && ring.first() == ring.last() {
                ring.pop();
            }
            let p = f.properties;
            if p.parent.is_none() {
                atlas.root = Some(p.code.clone());
            }
            if let Some(parent) = &p.parent {
                atlas.children.entry(parent.clone()).or_default().push(p.code.clone());
            }
            let centroid = centroid(&ring);
            atlas.areas.insert(
                p.code.clone(),
                Area { code: p.code, name: p.name, level: p.level, parent: p.parent, ring, centroid },
            );
        }
        for list in atlas.children.values_mut() {
            list.sort();
        }
        if atlas.root.is_none() && !atlas.areas.is_empty() {
            return Err(AtlasError::Format("no feature without a parent (the city)".into()));
        }
        Ok(atlas)
    }

    /// The top region (the city), if any geometry was loaded.
    pub fn root(&self) -> Option<&Area> {
        self.root.as_ref().and_then(|c| self.areas.get(c))
    }

    /// One area.
    pub fn area(&self, code: &str) -> Option<&Area> {
        self.areas.get(code)
    }

    /// The children of `code`, in code order.
    pub fn children(&self, code: &str) -> impl Iterator<Item = &Area> {
        self.children.get(code).into_iter().flatten().filter_map(|c| self.areas.get(c))
    }

    /// `code` and its ancestors, the city first.
    pub fn path(&self, code: &str) -> Vec<&Area> {
        let mut out = Vec::new();
        let mut next = self.areas.get(code);
        while let Some(a) = next {
            out.push(a);
            next = a.parent.as_ref().and_then(|p| self.areas.get(p));
        }
        out.reverse();
        out
    }

    /// How many areas are loaded.
    pub fn len(&self) -> usize {
        self.areas.len()
    }

    /// True when no geometry is loaded.
    pub fn is_empty(&self) -> bool {
        self.areas.is_empty()
    }
}

/// The area-weighted centroid of a simple polygon; the mean of its points when it has no area.
fn centroid(ring: &[[f64; 2]]) -> [f64; 2] {
    if ring.is_empty() {
        return [0.0, 0.0];
    }
    let (mut a, mut cx, mut cy) = (0.0, 0.0, 0.0);
    for (i, p) in ring.iter().enumerate() {
        let q = ring[(i + 1) % ring.len()];
        let cross = p[0] * q[1] - q[0] * p[1];
        a += cross;
        cx += (p[0] + q[0]) * cross;
        cy += (p[1] + q[1]) * cross;
    }
    if a.abs() < 1e-15 {
        let n = ring.len() as f64;
        return [ring.iter().map(|p| p[0]).sum::<f64>() / n, ring.iter().map(|p| p[1]).sum::<f64>() / n];
    }
    [cx / (3.0 * a), cy / (3.0 * a)]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"type":"FeatureCollection","features":[
      {"type":"Feature","properties":{"code":"411600","name":"周口市","level":"city","parent":null},
       "geometry":{"type":"Polygon","coordinates":[[[0,0],[4,0],[4,2],[0,2],[0,0]]]}},
      {"type":"Feature","properties":{"code":"411603","name":"B","level":"county","parent":"411600"},
       "geometry":{"type":"Polygon","coordinates":[[[2,0],[4,0],[4,2],[2,2],[2,0]]]}},
      {"type":"Feature","properties":{"code":"411602","name":"A","level":"county","parent":"411600"},
       "geometry":{"type":"Polygon","coordinates":[[[0,0],[2,0],[2,2],[0,2],[0,0]]]}}]}"#;

    #[test]
    fn children_come_in_code_order_with_centroids_and_paths() {
        let atlas = Atlas::parse(SMALL).unwrap();
        assert_eq!(atlas.root().map(|a| a.code.as_str()), Some("411600"));
        let kids: Vec<&str> = atlas.children("411600").map(|a| a.code.as_str()).collect();
        assert_eq!(kids, ["411602", "411603"]);
        let a = atlas.area("411602").unwrap();
        assert_eq!(a.ring.len(), 4, "the closing point is dropped");
        assert!((a.centroid[0] - 1.0).abs() < 1e-12 && (a.centroid[1] - 1.0).abs() < 1e-12);
        let path: Vec<&str> = atlas.path("411603").iter().map(|a| a.name.as_str()).collect();
        assert_eq!(path, ["周口市", "B"]);
    }

    #[test]
    fn a_collection_without_a_city_is_refused() {
        let text = r#"{"features":[{"properties":{"code":"1","name":"x","level":"grid","parent":"2"},
            "geometry":{"coordinates":[[[0,0],[1,0],[1,1]]]}}]}"#;
        assert!(matches!(Atlas::parse(text), Err(AtlasError::Format(_))));
        assert!(matches!(Atlas::parse("[]"), Err(AtlasError::Format(_))));
    }
}
