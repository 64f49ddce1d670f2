//! Plausible Chinese names: villages (王庄村, 大李楼村), communities (建设路社区), towns named
//! after their seat village (王营镇 ← 王营村), subdistricts, people (姓 + 名) and rivers.
//!
//! Every name is drawn from the lists below with an entity's own [`Rng`] stream, so the same
//! seed always gives the same names. [`Unique`] keeps names unique within a county.

use std::collections::HashSet;

use crate::rng::Rng;

/// Common surnames (百家姓), the most frequent first.
pub(crate) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "高", "林",
    "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾", "肖", "田", "董", "袁", "潘", "于",
    "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆",
    "汪", "范", "金", "石", "廖", "贾", "夏", "韦", "付", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛",
    "闫", "段", "雷", "侯", "龙", "史", "陶", "黎", "贺", "顾", "毛", "郝", "龚", "邵", "万", "钱", "严", "武", "戴",
    "孔", "汤", "常", "葛", "牛", "耿", "岳", "柴", "申", "单", "尚", "訾", "司", "聂", "靳",
];

/// Given names of one or two characters.
const GIVEN: &[&str] = &[
    "建国", "振华", "学军", "桂兰", "春花", "金凤", "立新", "宏伟", "俊杰", "德明", "家豪", "秀英", "丽娟", "凤英",
    "国华", "晓东", "新民", "淑珍", "雪梅", "小红", "红霞", "慧敏", "志强", "永刚", "明辉", "玉梅", "文静", "丽华",
    "海燕", "长青", "建华", "建军", "国强", "国庆", "志刚", "志勇", "卫东", "卫国", "红梅", "秀兰", "秀珍", "玉兰",
    "桂英", "玉珍", "凤兰", "保国", "永强", "永生", "天明", "天宇", "子涵", "子轩", "浩然", "梓萱", "欣怡", "雨桐",
    "思雨", "佳怡", "一鸣", "博文", "浩宇", "宇航", "晨阳", "俊峰", "海涛", "海军", "少华", "少伟", "春生", "春雷",
    "秋菊", "冬梅", "夏莲", "爱华", "爱民", "爱玲", "新华", "新建", "跃进", "胜利", "金龙", "金平", "银花", "彩霞",
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "霞", "平",
    "刚", "辉", "鹏", "华", "飞", "鑫", "波", "斌", "宇", "浩", "凯", "健", "俊", "帆", "帅", "旭", "宁", "龙", "林",
    "欢", "阳", "亮", "成", "建", "峰", "雷", "琳", "倩", "婷", "雪", "颖", "晶", "莉", "红", "梅", "兰", "萍",
];

/// What a village name ends in before 村: 王庄, 李楼, 张营 …
const VILLAGE_SUFFIXES: &[&str] = &[
    "庄", "楼", "营", "寨", "集", "店", "桥", "湾", "岗", "洼", "屯", "口", "台", "园", "坡", "堂", "湖", "沟", "寺",
    "铺", "庙", "阁", "滩", "林", "河", "庄", "楼", "营", "寨", "集",
];

/// What may come before a village's surname: 大王庄, 后李楼 …
const VILLAGE_PREFIXES: &[&str] = &["大", "小", "前", "后", "东", "西", "南", "北", "新", "老", "上", "下"];

/// Streets a community may be named after (建设路社区).
const STREETS: &[&str] = &[
    "建设", "人民", "文明", "解放", "中州", "八一", "工农", "新华", "光明", "育才", "和平", "胜利", "友谊", "团结",
    "振兴", "健康", "迎宾", "滨河", "沙河", "颍河", "太昊", "伏羲", "文化", "大庆", "汉阳", "莲花", "东新", "工业",
    "长安", "黄河", "淮河", "中原", "朝阳", "五一", "复兴", "金海", "周口", "富民", "青年", "商业", "新兴", "学院",
    "车站", "紫荆", "丰收", "六一", "纺织", "开元", "府前", "政通", "行政", "永安", "向阳", "红旗", "东风", "前进",
];

/// Other community names (花园社区, 南关社区).
const COMMUNITY_WORDS: &[&str] = &[
    "东街",
    "西街",
    "南街",
    "北街",
    "东关",
    "西关",
    "南关",
    "北关",
    "花园",
    "幸福",
    "和谐",
    "锦绣",
    "阳光",
    "翠苑",
    "康居",
    "福苑",
    "龙湖",
    "书香",
    "城南",
    "城北",
    "城东",
    "城西",
    "新城",
    "老城",
    "河滨",
    "湖滨",
    "清华园",
    "金城",
    "世纪",
    "盛世",
    "祥和",
    "安居",
    "嘉园",
    "御景",
    "怡园",
    "明珠",
    "春晖",
    "丽景",
    "兴隆",
    "丰华",
    "鑫苑",
    "桃园",
];

/// Names of a county's subdistricts (街道) other than 川汇区's.
pub(crate) const SUBDISTRICTS: &[&str] =
    &["东城", "西城", "南城", "北城", "新华", "光明", "花园", "城关", "水寨", "莲花", "东方", "千佛阁", "光武", "新站"];

/// Rivers of the area, for riverbanks.
pub(crate) const RIVERS: &[&str] =
    &["沙颍河", "贾鲁河", "涡河", "黑茨河", "汾泉河", "新运河", "清水河", "泥河", "新蔡河", "惠济河", "洺河"];

/// The stem of a rural place name: [prefix] surname suffix, e.g. 王庄, 大李楼.
pub(crate) fn place_stem(rng: &mut Rng) -> String {
    let mut s = String::new();
    if rng.chance(0.22) {
        s.push_str(rng.pick(VILLAGE_PREFIXES).copied().unwrap_or("大"));
    }
    s.push_str(rng.pick(SURNAMES).copied().unwrap_or("王"));
    if rng.chance(0.06) {
        s.push('家');
    }
    s.push_str(rng.pick(VILLAGE_SUFFIXES).copied().unwrap_or("庄"));
    s
}

/// A village's name: a place stem and 村.
pub(crate) fn village(rng: &mut Rng) -> String {
    place_stem(rng) + "村"
}

/// A community's name: after a street (建设路社区), a quarter (南关社区) or a former village
/// (王庄社区).
pub(crate) fn community(rng: &mut Rng) -> String {
    let roll = rng.unit();
    let stem = if roll < 0.55 {
        let street = rng.pick(STREETS).copied().unwrap_or("建设");
        let kind = *rng.pick(&["路", "路", "路", "街", "大道"]).unwrap_or(&"路");
        format!("{street}{kind}")
    } else if roll < 0.85 {
        rng.pick(COMMUNITY_WORDS).copied().unwrap_or("花园").to_string()
    } else {
        place_stem(rng)
    };
    stem + "社区"
}

/// A person's name: a surname and a given name.
pub(crate) fn person(rng: &mut Rng) -> String {
    let surname = rng.pick(SURNAMES).copied().unwrap_or("王");
    let given = rng.pick(GIVEN).copied().unwrap_or("伟");
    format!("{surname}{given}")
}

/// The part of a township's name before 街道, 镇 or 乡 (陈州街道 → 陈州, 城关镇 → 城关).
pub(crate) fn township_stem(name: &str) -> &str {
    ["街道", "镇", "乡"].iter().find_map(|s| name.strip_suffix(s)).unwrap_or(name)
}

/// The part of a village's name before 社区 or 村 (七一路社区 → 七一路, 王庄村 → 王庄); a name
/// that is only a stem and 村 (江村) is kept whole.
pub(crate) fn village_stem(name: &str) -> &str {
    match name.strip_suffix("社区").or_else(|| name.strip_suffix('村')) {
        Some(stem) if stem.chars().count() >= 2 => stem,
        _ => name,
    }
}

/// Names already taken in one county.
#[derive(Debug, Default)]
pub(crate) struct Unique(HashSet<String>);

impl Unique {
    /// Marks a name as taken.
    pub(crate) fn reserve(&mut self, name: &str) {
        self.0.insert(name.to_string());
    }

    /// Whether a name is taken.
    pub(crate) fn taken(&self, name: &str) -> bool {
        self.0.contains(name)
    }

    /// The first name `make` draws that is not taken (after 200 draws, a taken one with a
    /// free prefix such as 前 or 后), marked as taken.
    pub(crate) fn draw(&mut self, rng: &mut Rng, mut make: impl FnMut(&mut Rng) -> String) -> String {
        let mut name = make(rng);
        for _ in 0..200 {
            if !self.taken(&name) {
                break;
            }
            name = make(rng);
        }
        let base = name.clone();
        let mut k = 0;
        while self.taken(&name) {
            name = match VILLAGE_PREFIXES.get(k) {
                Some(p) => format!("{p}{base}"),
                None => format!("{base}{k}"),
            };
            k += 1;
        }
        self.reserve(&name);
        name
    }
}

#[cfg(test)]
mod tests;
