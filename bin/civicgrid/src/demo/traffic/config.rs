//! What the traffic generator plays: its rate, its mixes and its delays. The defaults give a
//! city that visibly moves: a report a second by day, mostly grid workers' and citizens', most
//! tasks handled in time, some late, returned, reworked or rated dissatisfied.

use std::{ops::Range, time::Duration};

use civicgrid_proto::v1::EventSource;

/// The traffic generator's configuration.
#[derive(Debug, Clone)]
pub struct TrafficConfig {
    /// Reports per minute at the busiest hours (the hour profile scales it down at night).
    pub rate_per_minute: f64,
    /// How the rate follows the local (UTC+08:00) hour: a factor per hour, 0 to 1.
    pub hour_profile: [f64; 24],
    /// Weights of the catalog's categories (大类, the item code's first two digits); a
    /// category not listed has weight `other_category_weight`.
    pub category_weights: Vec<(&'static str, f64)>,
    /// The weight of each category not in `category_weights`.
    pub other_category_weight: f64,
    /// Weights of the sources of reports.
    pub source_weights: Vec<(EventSource, f64)>,
    /// How much more a grid of the urban core (川汇区) is reported from than a rural one.
    pub core_weight: f64,
    /// How much more a grid of another district or county seat's subdistricts is.
    pub town_weight: f64,
    /// How much more a community's (社区) grid is than a village's (村).
    pub community_weight: f64,
    /// The share of reports that repeat a recent report's spot (duplicates intake merges).
    pub repeat_share: f64,
    /// The unit every delay below is counted in (`--demo-interval-ms`).
    pub step: Duration,
    /// Steps from assignment to sign-for (签收).
    pub sign_for_steps: Range<f64>,
    /// Steps from sign-for to resolution.
    pub handle_steps: Range<f64>,
    /// The share of tasks signed for late (签收超时): their department lets them wait
    /// `late_steps` instead of `sign_for_steps`.
    pub late_share: f64,
    /// A late task's steps to sign for: long enough (1 to 3 hours at the default pace) for
    /// dispatch's sign-for clocks, which count working hours, to turn the task's warning colour.
    pub late_steps: Range<f64>,
    /// The share of tasks a department returns as not theirs (回退) before the center assigns
    /// them again.
    pub returned_share: f64,
    /// Steps the center takes to assign a returned task again.
    pub triage_steps: Range<f64>,
    /// The share of resolutions verification rejects (返工) once.
    pub reworked_share: f64,
    /// Steps from resolution to verification, and from a rejection to the next resolution.
    pub verify_steps: Range<f64>,
    /// Steps from verification to closing.
    pub close_steps: Range<f64>,
    /// The share of reporters who rate the outcome dissatisfied (which reopens the event).
    pub dissatisfied_share: f64,
    /// Steps from closing to the reporter's rating.
    pub rate_steps: Range<f64>,
}

impl TrafficConfig {
    /// The defaults, at `rate_per_minute` and with delays counted in `step`.
    pub fn new(rate_per_minute: f64, step: Duration) -> TrafficConfig {
        TrafficConfig {
            rate_per_minute,
            // Quiet from midnight to six, a morning and an afternoon peak, a calmer evening.
            hour_profile: [
                0.15, 0.1, 0.1, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.0, 1.0, 0.9, 0.7, 0.7, 0.9, 1.0, 1.0, 0.9, 0.7, 0.6,
                0.5, 0.4, 0.3, 0.2,
            ],
            // Roughly what city-management centres see: street scene and sanitation first.
            category_weights: vec![
                ("01", 14.0), // 市政设施
                ("02", 20.0), // 市容环境
                ("03", 16.0), // 环境卫生
                ("04", 6.0),  // 环境保护
                ("05", 4.0),  // 消防安全
                ("06", 8.0),  // 矛盾纠纷
                ("07", 4.0),  // 园林绿化
                ("08", 8.0),  // 道路交通
                ("12", 5.0),  // 物业管理
            ],
            other_category_weight: 1.5,
            source_weights: vec![
                (EventSource::GridWorker, 45.0),
                (EventSource::CitizenApp, 25.0),
                (EventSource::Hotline12345, 20.0),
                (EventSource::VideoAlarm, 5.0),
                (EventSource::Patrol, 3.0),
                (EventSource::DepartmentReferral, 2.0),
            ],
            core_weight: 4.0,
            town_weight: 2.0,
            community_weight: 2.5,
            repeat_share: 0.1,
            step,
            sign_for_steps: 1.0..6.0,
            handle_steps: 2.0..10.0,
            late_share: 0.1,
            late_steps: 900.0..2_700.0,
            returned_share: 0.05,
            triage_steps: 2.0..6.0,
            reworked_share: 0.15,
            verify_steps: 1.0..4.0,
            close_steps: 0.5..2.0,
            dissatisfied_share: 0.1,
            rate_steps: 1.0..3.0,
        }
    }
}
