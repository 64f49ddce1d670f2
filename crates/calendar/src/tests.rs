//! Unit tests of the business calendar: working days, the four time types, holidays and
//! make-up days, and `advance` against `business_time`.

use super::*;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A local (+08:00) instant written "2026-02-13 17:00".
fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(&format!("{s} +0800"), "%Y-%m-%d %H:%M %z").unwrap().to_utc()
}

/// The 2025–2026 holiday calendar, as shipped in data/calendar.toml.
fn cal() -> BusinessCalendar {
    let mut holidays = Vec::new();
    let mut span = |from: &str, to: &str| {
        let mut day = d(from);
        while day <= d(to) {
            holidays.push(day);
            day = day.succ_opt().unwrap();
        }
    };
    span("2025-01-01", "2025-01-01");
    span("2025-01-28", "2025-02-04");
    span("2025-04-04", "2025-04-06");
    span("2025-05-01", "2025-05-05");
    span("2025-05-31", "2025-06-02");
    span("2025-10-01", "2025-10-08");
    span("2026-01-01", "2026-01-03");
    span("2026-02-15", "2026-02-23");
    span("2026-04-04", "2026-04-06");
    span("2026-05-01", "2026-05-05");
    span("2026-06-19", "2026-06-21");
    span("2026-09-25", "2026-09-27");
    span("2026-10-01", "2026-10-07");
    let workdays = ["2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11", "2026-01-04", "2026-02-14"]
        .into_iter()
        .chain(["2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"])
        .map(d);
    let std = BusinessCalendar::china_default();
    BusinessCalendar::new(china_offset(), std.periods().to_vec(), &[Weekday::Sat, Weekday::Sun], holidays, workdays)
        .unwrap()
}

#[test]
fn weekends_holidays_and_make_up_days() {
    let c = cal();
    assert!(c.is_working_day(d("2026-11-20")), "a Friday");
    assert!(!c.is_working_day(d("2026-11-21")), "a Saturday");
    assert!(!c.is_working_day(d("2026-11-22")), "a Sunday");
    assert!(!c.is_working_day(d("2026-10-01")), "National Day, a Thursday");
    assert!(!c.is_working_day(d("2026-02-23")), "the last day of the Spring Festival, a Monday");
    assert!(c.is_working_day(d("2026-02-14")), "the make-up Saturday before the Spring Festival");
    assert!(c.is_working_day(d("2026-01-04")), "the make-up Sunday after New Year");
    assert!(c.is_working_day(d("2025-09-28")), "a make-up Sunday");
}

#[test]
fn bad_calendars_are_refused() {
    let std = BusinessCalendar::china_default();
    let p = std.periods().to_vec();
    let none: [NaiveDate; 0] = [];
    assert_eq!(BusinessCalendar::new(china_offset(), vec![], &[], none, none), Err(CalendarError::NoWorkingPeriods));
    let reversed = vec![p[1], p[0]];
    assert!(matches!(
        BusinessCalendar::new(china_offset(), reversed, &[], none, none),
        Err(CalendarError::OverlappingPeriods(_))
    ));
    let empty = vec![WorkingPeriod::hm((9, 0), (9, 0)).unwrap()];
    assert!(matches!(
        BusinessCalendar::new(china_offset(), empty, &[], none, none),
        Err(CalendarError::EmptyPeriod { .. })
    ));
    let all = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];
    assert_eq!(
        BusinessCalendar::new(china_offset(), p.clone(), &all, none, none),
        Err(CalendarError::NoWorkingWeekday)
    );
    assert_eq!(
        BusinessCalendar::new(china_offset(), p, &[], [d("2026-01-01")], [d("2026-01-01")]),
        Err(CalendarError::HolidayAndWorkday(d("2026-01-01")))
    );
}

#[test]
fn urgent_and_calendar_days_are_continuous() {
    let c = cal();
    let from = t("2026-10-01 09:00");
    assert_eq!(c.advance(TimeType::Urgent, from, Duration::hours(4)), t("2026-10-01 13:00"));
    assert_eq!(c.advance(TimeType::CalendarDays, from, Duration::days(3)), t("2026-10-04 09:00"));
    assert_eq!(c.business_time(TimeType::Urgent, from, t("2026-10-02 09:00")), Duration::hours(24));
    assert_eq!(c.business_time(TimeType::CalendarDays, t("2026-10-02 09:00"), from), Duration::zero());
}

#[test]
fn working_hours_within_a_day_and_across_lunch() {
    let c = cal();
    let from = t("2026-11-18 09:00"); // a Wednesday
    assert_eq!(c.advance(TimeType::WorkingHours, from, Duration::hours(2)), t("2026-11-18 11:00"));
    // 3 h: 09:00–12:00, the lunch break does not count.
    assert_eq!(c.advance(TimeType::WorkingHours, from, Duration::hours(4)), t("2026-11-18 15:30"));
    assert_eq!(c.business_time(TimeType::WorkingHours, from, t("2026-11-18 13:00")), Duration::hours(3));
    // A limit used up exactly at noon ends at noon, not after lunch.
    assert_eq!(c.advance(TimeType::WorkingHours, from, Duration::hours(3)), t("2026-11-18 12:00"));
    // Received during lunch: counting starts at 14:30.
    assert_eq!(c.advance(TimeType::WorkingHours, t("2026-11-18 13:00"), Duration::hours(1)), t("2026-11-18 15:30"));
}

#[test]
fn working_hours_across_nights_and_weekends() {
    let c = cal();
    // Thursday 17:00 + 2 h: 1 h on Thursday, 1 h on Friday morning.
    assert_eq!(c.advance(TimeType::WorkingHours, t("2026-11-19 17:00"), Duration::hours(2)), t("2026-11-20 09:30"));
    // Friday 17:00 + 2 h: the weekend does not count.
    assert_eq!(c.advance(TimeType::WorkingHours, t("2026-11-20 17:00"), Duration::hours(2)), t("2026-11-23 09:30"));
    // Reported on Saturday night: Monday morning.
    assert_eq!(c.advance(TimeType::WorkingHours, t("2026-11-21 22:00"), Duration::hours(1)), t("2026-11-23 09:30"));
    assert_eq!(
        c.business_time(TimeType::WorkingHours, t("2026-11-20 17:00"), t("2026-11-23 10:00")),
        Duration::minutes(150)
    );
}

#[test]
fn working_hours_across_the_2026_spring_festival() {
    let c = cal();
    let from = t("2026-02-13 17:00"); // Friday before the festival
    // 1 h on Friday, then the make-up Saturday 2026-02-14 is a full 7-hour working day.
    assert_eq!(c.advance(TimeType::WorkingHours, from, Duration::hours(8)), t("2026-02-14 18:00"));
    // 15–23 February are holidays: the next 8 h run on Tuesday 24th and Wednesday 25th.
    assert_eq!(c.advance(TimeType::WorkingHours, from, Duration::hours(16)), t("2026-02-25 09:30"));
    assert_eq!(c.business_time(TimeType::WorkingHours, from, t("2026-02-24 08:30")), Duration::hours(8));
    assert_eq!(c.business_time(TimeType::WorkingHours, t("2026-02-15 08:00"), t("2026-02-23 20:00")), Duration::zero());
}

#[test]
fn working_days_count_from_the_next_day() {
    let c = cal();
    // Wednesday, any hour: 1 working day ends at the end of Thursday.
    for start in ["2026-11-18 00:10", "2026-11-18 10:00", "2026-11-18 23:59"] {
        assert_eq!(c.advance(TimeType::WorkingDays, t(start), Duration::days(1)), t("2026-11-20 00:00"));
    }
    // Friday + 1 working day: the end of Monday.
    assert_eq!(c.advance(TimeType::WorkingDays, t("2026-11-20 10:00"), Duration::days(1)), t("2026-11-24 00:00"));
    // Received on Saturday: Monday is the first working day.
    assert_eq!(c.advance(TimeType::WorkingDays, t("2026-11-21 10:00"), Duration::days(2)), t("2026-11-25 00:00"));
    // Nothing elapses on the starting day.
    assert_eq!(c.business_time(TimeType::WorkingDays, t("2026-11-18 10:00"), t("2026-11-18 23:00")), Duration::zero());
    assert_eq!(
        c.business_time(TimeType::WorkingDays, t("2026-11-18 10:00"), t("2026-11-19 12:00")),
        Duration::hours(12)
    );
}

#[test]
fn working_days_across_holidays_and_make_up_days() {
    let c = cal();
    // Assigned Tuesday 2026-09-29, 5 working days: 30 Sep, then National Day (1–7 Oct),
    // Thursday 8th, Friday 9th, make-up Saturday 10th, Monday 12th.
    assert_eq!(c.advance(TimeType::WorkingDays, t("2026-09-29 15:00"), Duration::days(5)), t("2026-10-13 00:00"));
    // 2025: assigned on the Friday before the Spring Festival (24 Jan); 3 working days are
    // the make-up Sunday 26th, Monday 27th and, after 28 Jan–4 Feb, Wednesday 5 Feb.
    assert_eq!(c.advance(TimeType::WorkingDays, t("2025-01-24 16:00"), Duration::days(3)), t("2025-02-06 00:00"));
    // New Year 2026: 1–3 Jan off, Sunday 4th a make-up working day.
    assert_eq!(c.advance(TimeType::WorkingDays, t("2025-12-31 09:00"), Duration::days(1)), t("2026-01-05 00:00"));
}

#[test]
fn advance_and_business_time_agree() {
    let c = cal();
    let starts = ["2026-02-12 11:00", "2026-02-13 17:30", "2026-09-30 12:30", "2026-11-21 03:00"];
    let ends = ["2026-02-14 10:00", "2026-02-24 15:00", "2026-10-09 09:00", "2026-11-24 11:59"];
    for time_type in TimeType::ALL {
        for (from, to) in starts.iter().zip(ends) {
            let (from, to) = (t(from), t(to));
            let used = c.business_time(time_type, from, to);
            let back = c.advance(time_type, from, used);
            // `to` lies in counted time for every type here, so advance lands on it exactly.
            assert_eq!(back, to, "{time_type:?} {from} → {to}");
            for amount in [Duration::minutes(1), Duration::hours(7), Duration::days(3)] {
                let at = c.advance(time_type, from, amount);
                assert_eq!(c.business_time(time_type, from, at), amount, "{time_type:?} {from} + {amount}");
            }
        }
    }
    // Outside working time, advance gives the end of the last working stretch before `to`.
    let used = c.business_time(TimeType::WorkingHours, t("2026-11-20 17:00"), t("2026-11-21 12:00"));
    assert_eq!(c.advance(TimeType::WorkingHours, t("2026-11-20 17:00"), used), t("2026-11-20 18:00"));
}

#[test]
fn amounts_and_labels() {
    assert_eq!(TimeType::WorkingHours.amount(16), Duration::hours(16));
    assert_eq!(TimeType::WorkingDays.amount(5), Duration::days(5));
    assert_eq!(TimeType::CalendarDays.unit(), Duration::days(1));
    assert_eq!(TimeType::Urgent.label(), "紧急");
    assert!(TimeType::amount(TimeType::CalendarDays, u32::MAX) > Duration::zero());
}
