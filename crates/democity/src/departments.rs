//! Department kinds and departments (职能部门), as in `services/dispatch/data/departments.toml`:
//! every county has one department of each of the 28 kinds; every township has one of each of
//! the 17 kinds that reach down to townships (the other 11 — municipal facilities, parks,
//! transport, traffic police, natural resources, culture, water, power, gas, the women's
//! federation and medical insurance — exist only at county level). Ids are `<region>-<kind>`;
//! names follow the shipped file's patterns, so the shipped departments come out unchanged.

use crate::model::{Department, DepartmentKind, Level, Region};
use crate::names::township_stem;

/// The kinds, in the shipped file's order: code, name, whether townships have one.
pub(crate) const KINDS: [(&str, &str, bool); 28] = [
    ("grid", "网格化服务管理", true),
    ("chengguan", "城市管理与综合执法", true),
    ("zhujian", "住房和城乡建设", true),
    ("gongan", "公安", true),
    ("sifa", "司法行政", true),
    ("shichang", "市场监督管理", true),
    ("yingji", "应急管理", true),
    ("huanbao", "生态环境", true),
    ("minzheng", "民政", true),
    ("renshe", "人力资源和社会保障", true),
    ("nongye", "农业农村", true),
    ("shuili", "水利", true),
    ("weijian", "卫生健康", true),
    ("xiaofang", "消防救援", true),
    ("wuye", "物业管理", true),
    ("jiaoyu", "教育", true),
    ("xinfang", "信访", true),
    ("shizheng", "市政设施", false),
    ("yuanlin", "园林绿化", false),
    ("jiaotong", "交通运输", false),
    ("jiaojing", "公安交通管理", false),
    ("ziranziyuan", "自然资源和规划", false),
    ("wenlv", "文化广电和旅游", false),
    ("gongshui", "供水", false),
    ("gongdian", "供电", false),
    ("ranqi", "燃气", false),
    ("fulian", "妇女联合会", false),
    ("yibao", "医疗保障", false),
];

/// The department kinds.
pub(crate) fn kinds() -> Vec<DepartmentKind> {
    KINDS
        .iter()
        .map(|&(code, name, in_townships)| DepartmentKind { code: code.into(), name: name.into(), in_townships })
        .collect()
}

/// The name of a county's department of `kind` (川汇区城市管理局).
fn county_department(kind: &str, county: &str) -> String {
    match kind {
        "grid" => format!("{county}网格化服务管理中心"),
        "chengguan" => format!("{county}城市管理局"),
        "zhujian" => format!("{county}住房和城乡建设局"),
        "gongan" => format!("周口市公安局{county}分局"),
        "sifa" => format!("{county}司法局"),
        "shichang" => format!("{county}市场监督管理局"),
        "yingji" => format!("{county}应急管理局"),
        "huanbao" => format!("周口市生态环境局{county}分局"),
        "minzheng" => format!("{county}民政局"),
        "renshe" => format!("{county}人力资源和社会保障局"),
        "nongye" => format!("{county}农业农村局"),
        "shuili" => format!("{county}水利局"),
        "weijian" => format!("{county}卫生健康委员会"),
        "xiaofang" => format!("{county}消防救援大队"),
        "wuye" => format!("{county}物业管理服务中心"),
        "jiaoyu" => format!("{county}教育局"),
        "xinfang" => format!("{county}信访局"),
        "shizheng" => format!("{county}市政设施管理中心"),
        "yuanlin" => format!("{county}园林绿化中心"),
        "jiaotong" => format!("{county}交通运输局"),
        "jiaojing" => format!("周口市公安局交通管理支队{county}大队"),
        "ziranziyuan" => format!("周口市自然资源和规划局{county}分局"),
        "wenlv" => format!("{county}文化广电和旅游局"),
        "gongshui" => format!("{county}供水服务中心"),
        "gongdian" => format!("国网{county}供电公司"),
        "ranqi" => format!("{county}燃气服务中心"),
        "fulian" => format!("{county}妇女联合会"),
        "yibao" => format!("{county}医疗保障局"),
        other => format!("{county}{other}"),
    }
}

/// The name of a township's department of `kind` (陈州街道综合行政执法中队, 陈州派出所).
fn township_department(kind: &str, township: &str) -> String {
    let office = match kind {
        "grid" => "网格化服务管理站",
        "chengguan" => "综合行政执法中队",
        "zhujian" => "规划建设办公室",
        "gongan" => return format!("{}派出所", township_stem(township)),
        "sifa" => "司法所",
        "shichang" => "市场监督管理所",
        "yingji" => "应急管理办公室",
        "huanbao" => "生态环境保护站",
        "minzheng" => "社会事务办公室",
        "renshe" => "劳动保障事务所",
        "nongye" => "农业农村服务中心",
        "shuili" => "水利站",
        "weijian" => "卫生健康服务中心",
        "xiaofang" => "专职消防队",
        "wuye" => "物业管理办公室",
        "jiaoyu" => "教育管理办公室",
        "xinfang" => "信访办公室",
        other => other,
    };
    format!("{township}{office}")
}

/// The departments of the counties and townships among `regions` (in their order: each county's,
/// then each of its townships'), kinds in [`KINDS`] order.
pub(crate) fn departments(regions: &[Region]) -> Vec<Department> {
    let mut out = Vec::new();
    for r in regions {
        let of_kind = |kind: &str, name: String| Department {
            id: format!("{}-{kind}", r.code),
            name,
            kind: kind.into(),
            region: r.code.clone(),
        };
        match r.level {
            Level::County => {
                out.extend(KINDS.iter().map(|&(kind, _, _)| of_kind(kind, county_department(kind, &r.name))));
            }
            Level::Township => out.extend(
                KINDS.iter().filter(|k| k.2).map(|&(kind, _, _)| of_kind(kind, township_department(kind, &r.name))),
            ),
            Level::City | Level::Village => {}
        }
    }
    out
}
