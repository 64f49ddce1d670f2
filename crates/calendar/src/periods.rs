//! Periods counted in days, as Chinese procedure law counts them (民事诉讼法 第八十五条): the day
//! a period starts is not counted, and a period whose last day is a rest day or a public holiday
//! ends with the next working day. A period ends when its last day does (local midnight).

use chrono::{DateTime, Duration, NaiveTime, Utc};

use crate::BusinessCalendar;

/// The end of a period of `days` calendar days that starts at `from`.
pub fn days_period_end(cal: &BusinessCalendar, from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let mut last = cal.local_date(from) + Duration::days(i64::from(days));
    // A year of holidays in a row would be a data error; stop looking after one.
    for _ in 0..366 {
        if cal.is_working_day(last) {
            break;
        }
        last += Duration::days(1);
    }
    cal.instant(last + Duration::days(1), NaiveTime::MIN)
}

/// The end of a period of `days` working days that starts at `from` (make-up working days
/// count; the day of `from` does not).
pub fn working_days_end(cal: &BusinessCalendar, from: DateTime<Utc>, days: u32) -> DateTime<Utc> {
    let mut day = cal.local_date(from);
    let mut counted = 0;
    let mut scanned = 0;
    while counted < days && scanned < 3660 {
        day += Duration::days(1);
        scanned += 1;
        if cal.is_working_day(day) {
            counted += 1;
        }
    }
    cal.instant(day + Duration::days(1), NaiveTime::MIN)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// A local (UTC+08:00) wall-clock instant.
    fn local(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap() - Duration::hours(8)
    }

    #[test]
    fn days_ending_on_a_holiday_run_to_the_next_working_day() {
        let cal = crate::shipped();
        // Friday 13 November + 30 days = Sunday 13 December → Monday 14 December.
        assert_eq!(days_period_end(&cal, local(2026, 11, 13, 9), 30), local(2026, 12, 15, 0));
        // 1 September + 30 = 1 October (National Day, to 7 October) → Thursday 8 October.
        assert_eq!(days_period_end(&cal, local(2026, 9, 1, 23), 30), local(2026, 10, 9, 0));
        // A working day stays.
        assert_eq!(days_period_end(&cal, local(2026, 11, 16, 0), 30), local(2026, 12, 17, 0));
    }

    #[test]
    fn working_days_skip_rest_days_and_count_make_up_days() {
        let cal = crate::shipped();
        assert_eq!(working_days_end(&cal, local(2026, 11, 20, 10), 3), local(2026, 11, 26, 0));
        // Saturday 10 October 2026 is a make-up working day.
        assert_eq!(working_days_end(&cal, local(2026, 10, 8, 10), 3), local(2026, 10, 13, 0));
        assert_eq!(working_days_end(&cal, local(2026, 11, 20, 10), 0), local(2026, 11, 21, 0));
    }
}
