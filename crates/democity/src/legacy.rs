//! The demo city as shipped before it was generated (`services/dispatch/data/regions.toml`,
//! `departments.toml`, `services/mediation/data/organisations.toml`, `mediators.toml`): the
//! codes and names that tests and the small demo depend on. The generator keeps every one of them
//! unchanged and generates around them.
//!
//! Departments and organisations follow naming patterns the generator reproduces, so only the
//! regions, how many grids each village had and the mediators' names are listed here.
//!
//! Nine of these villages break the division-code convention (a 村 numbered 001–199, a range
//! for 社区): 411602200001 许湾村, 411602200002 大王庄村, 411621100003 南街村, 411621101001
//! 崔桥村, 411621101002 王庄村, 411621102001 江村, 411621102002 刘庄村, 411621200001 固城村 and
//! 411621200002 吕庄村. They are kept as they are; every village the generator adds follows it.

/// The shipped townships and villages (counties come from [`crate::counties`]): code, name.
pub(crate) const REGIONS: &[(&str, &str)] = &[
    ("411602001", "陈州街道"),
    ("411602001001", "七一路社区"),
    ("411602001002", "文昌社区"),
    ("411602001003", "南关社区"),
    ("411602002", "人和街道"),
    ("411602002001", "人和社区"),
    ("411602002002", "北郊社区"),
    ("411602002003", "东方社区"),
    ("411602003", "小桥街道"),
    ("411602003001", "小桥社区"),
    ("411602003002", "建设路社区"),
    ("411602004", "荷花路街道"),
    ("411602004001", "荷花社区"),
    ("411602004002", "交通路社区"),
    ("411602200", "许湾乡"),
    ("411602200001", "许湾村"),
    ("411602200002", "大王庄村"),
    ("411621100", "城关镇"),
    ("411621100001", "东街社区"),
    ("411621100002", "西街社区"),
    ("411621100003", "南街村"),
    ("411621101", "崔桥镇"),
    ("411621101001", "崔桥村"),
    ("411621101002", "王庄村"),
    ("411621102", "江村镇"),
    ("411621102001", "江村"),
    ("411621102002", "刘庄村"),
    ("411621200", "固城乡"),
    ("411621200001", "固城村"),
    ("411621200002", "吕庄村"),
];

/// How many grids each shipped village had (numbered from 001).
pub(crate) const GRIDS: &[(&str, usize)] = &[
    ("411602001001", 3),
    ("411602001002", 2),
    ("411602001003", 2),
    ("411602002001", 3),
    ("411602002002", 2),
    ("411602002003", 2),
    ("411602003001", 3),
    ("411602003002", 2),
    ("411602004001", 3),
    ("411602004002", 2),
    ("411602200001", 3),
    ("411602200002", 2),
    ("411621100001", 3),
    ("411621100002", 2),
    ("411621100003", 2),
    ("411621101001", 3),
    ("411621101002", 2),
    ("411621102001", 3),
    ("411621102002", 2),
    ("411621200001", 3),
    ("411621200002", 2),
];

/// The shipped mediators: id, name. Their specialties follow the generator's pattern.
pub(crate) const MEDIATORS: &[(&str, &str)] = &[
    ("med-411602-labour-01", "王建国"),
    ("med-411602-labour-02", "黄振华"),
    ("med-411602-medical-01", "高学军"),
    ("med-411602-medical-02", "宋桂兰"),
    ("med-411602-traffic-01", "董春花"),
    ("med-411602-traffic-02", "傅金凤"),
    ("med-411602-property-01", "蒋立新"),
    ("med-411602-property-02", "阎宏伟"),
    ("med-411602001-tw-01", "汪俊杰"),
    ("med-411602001-tw-02", "姚德明"),
    ("med-411602001-tw-03", "郝家豪"),
    ("med-411602001001-cw-01", "秦秀英"),
    ("med-411602001001-cw-02", "龙丽娟"),
    ("med-411602001002-cw-01", "陈凤英"),
    ("med-411602001002-cw-02", "孙国华"),
    ("med-411602001003-cw-01", "马晓东"),
    ("med-411602001003-cw-02", "唐新民"),
    ("med-411602002-tw-01", "袁淑珍"),
    ("med-411602002-tw-02", "吕雪梅"),
    ("med-411602002-tw-03", "魏小红"),
    ("med-411602002001-cw-01", "戴红霞"),
    ("med-411602002001-cw-02", "范慧敏"),
    ("med-411602002002-cw-01", "熊志强"),
    ("med-411602002002-cw-02", "康永刚"),
    ("med-411602002003-cw-01", "侯明辉"),
    ("med-411602002003-cw-02", "李玉梅"),
    ("med-411602003-tw-01", "周文静"),
    ("med-411602003-tw-02", "林丽华"),
    ("med-411602003-tw-03", "郑海燕"),
    ("med-411602003001-cw-01", "萧长青"),
    ("med-411602003001-cw-02", "沈建国"),
    ("med-411602003002-cw-01", "蔡振华"),
    ("med-411602003002-cw-02", "余学军"),
    ("med-411602004-tw-01", "田桂兰"),
    ("med-411602004-tw-02", "谭春花"),
    ("med-411602004-tw-03", "孔金凤"),
    ("med-411602004001-cw-01", "江立新"),
    ("med-411602004001-cw-02", "万宏伟"),
    ("med-411602004002-cw-01", "杨俊杰"),
    ("med-411602004002-cw-02", "胡德明"),
    ("med-411602200-tw-01", "罗家豪"),
    ("med-411602200-tw-02", "冯秀英"),
    ("med-411602200-tw-03", "邓丽娟"),
    ("med-411602200001-cw-01", "苏凤英"),
    ("med-411602200001-cw-02", "薛国华"),
    ("med-411602200002-cw-01", "夏晓东"),
    ("med-411602200002-cw-02", "方新民"),
    ("med-411621-labour-01", "金淑珍"),
    ("med-411621-labour-02", "毛雪梅"),
    ("med-411621-medical-01", "邵小红"),
    ("med-411621-medical-02", "张红霞"),
    ("med-411621-traffic-01", "吴慧敏"),
    ("med-411621-traffic-02", "何志强"),
    ("med-411621-property-01", "谢永刚"),
    ("med-411621-property-02", "程明辉"),
    ("med-411621100-tw-01", "曾玉梅"),
    ("med-411621100-tw-02", "贾文静"),
    ("med-411621100-tw-03", "潘丽华"),
    ("med-411621100001-cw-01", "任海燕"),
    ("med-411621100001-cw-02", "廖长青"),
    ("med-411621100002-cw-01", "白建国"),
    ("med-411621100002-cw-02", "史振华"),
    ("med-411621100003-cw-01", "段学军"),
    ("med-411621100003-cw-02", "赵桂兰"),
    ("med-411621101-tw-01", "朱春花"),
    ("med-411621101-tw-02", "梁金凤"),
    ("med-411621101-tw-03", "于立新"),
    ("med-411621101001-cw-01", "许宏伟"),
    ("med-411621101001-cw-02", "卢俊杰"),
    ("med-411621101002-cw-01", "叶德明"),
    ("med-411621101002-cw-02", "钟家豪"),
    ("med-411621102-tw-01", "石秀英"),
    ("med-411621102-tw-02", "陆丽娟"),
    ("med-411621102-tw-03", "邱凤英"),
    ("med-411621102001-cw-01", "孟国华"),
    ("med-411621102001-cw-02", "刘晓东"),
    ("med-411621102002-cw-01", "徐新民"),
    ("med-411621102002-cw-02", "郭淑珍"),
    ("med-411621200-tw-01", "韩雪梅"),
    ("med-411621200-tw-02", "曹小红"),
    ("med-411621200-tw-03", "彭红霞"),
    ("med-411621200001-cw-01", "丁慧敏"),
    ("med-411621200001-cw-02", "杜志强"),
    ("med-411621200002-cw-01", "姜永刚"),
    ("med-411621200002-cw-02", "邹明辉"),
];

/// The shipped name of a township or village.
pub(crate) fn region_name(code: &str) -> Option<&'static str> {
    REGIONS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
}

/// The shipped townships or villages directly under `parent`, in code order.
pub(crate) fn children(parent: &str) -> impl Iterator<Item = (&'static str, &'static str)> + '_ {
    REGIONS.iter().copied().filter(move |(c, _)| c.len() == parent.len() + 3 && c.starts_with(parent))
}

/// How many grids a shipped village had (0 for any other village).
pub(crate) fn grid_count(village: &str) -> usize {
    GRIDS.iter().find(|(v, _)| *v == village).map_or(0, |(_, n)| *n)
}

/// The shipped mediators of an organisation, in id order: their names.
pub(crate) fn mediators(organisation: &str) -> Vec<&'static str> {
    let prefix = format!("med-{organisation}-");
    MEDIATORS
        .iter()
        .filter(|(id, _)| id.strip_prefix(&prefix).is_some_and(|n| n.len() == 2))
        .map(|(_, name)| *name)
        .collect()
}
