use super::*;
use crate::rng::Purpose;

#[test]
fn names_have_their_shapes() {
    let mut rng = Rng::for_entity(1, Purpose::Names, 1);
    for _ in 0..500 {
        let v = village(&mut rng);
        assert!(v.ends_with('村') && (3..=5).contains(&v.chars().count()), "{v}");
        let c = community(&mut rng);
        assert!(c.ends_with("社区") && (4..=7).contains(&c.chars().count()), "{c}");
        let p = person(&mut rng);
        assert!((2..=3).contains(&p.chars().count()), "{p}");
        assert!(SURNAMES.iter().any(|s| p.starts_with(s)));
    }
}

#[test]
fn there_are_enough_names_for_a_county() {
    // A county has about 300 villages and communities; their names are unique within it.
    let mut rng = Rng::for_entity(2, Purpose::Names, 2);
    let mut used = Unique::default();
    let mut names = std::collections::HashSet::new();
    for k in 0..600 {
        let name = if k % 5 == 0 { used.draw(&mut rng, community) } else { used.draw(&mut rng, village) };
        assert!(names.insert(name.clone()), "{name} twice");
        assert!(used.taken(&name));
    }
}

#[test]
fn a_taken_name_gets_a_prefix() {
    let mut rng = Rng::for_entity(3, Purpose::Names, 3);
    let mut used = Unique::default();
    assert_eq!(used.draw(&mut rng, |_| "王庄村".into()), "王庄村");
    assert_eq!(used.draw(&mut rng, |_| "王庄村".into()), "大王庄村");
    assert_eq!(used.draw(&mut rng, |_| "王庄村".into()), "小王庄村");
}

#[test]
fn stems() {
    assert_eq!(township_stem("陈州街道"), "陈州");
    assert_eq!(township_stem("城关镇"), "城关");
    assert_eq!(township_stem("许湾乡"), "许湾");
    assert_eq!(village_stem("七一路社区"), "七一路");
    assert_eq!(village_stem("王庄村"), "王庄");
    assert_eq!(village_stem("江村"), "江村");
}
