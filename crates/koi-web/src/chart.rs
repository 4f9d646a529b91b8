//! Charts drawn on the server as SVG: no JS library, the same picture on a
//! phone, in print and in a test. Text inside is only numbers and dates koi
//! formats itself, so the markup is safe to embed as is.

use crate::fmt::month_day;
use koi_domain::channel::CodeDayStats;
use koi_domain::group::DayMetrics;

const W: f64 = 720.0;
const H: f64 = 240.0;
const LEFT: f64 = 36.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 24.0;

/// A code's days as bars: new customers and returning ones stacked above the
/// axis, deletions below it, and the net adds as a line.
pub fn daily_adds(days: &[(i64, CodeDayStats)]) -> String {
    let up = days.iter().map(|(_, s)| s.adds).max().unwrap_or(0).max(1) as f64;
    let down = days.iter().map(|(_, s)| s.deletions).max().unwrap_or(0) as f64;
    let plot_h = H - TOP - BOTTOM;
    let zero = TOP + plot_h * up / (up + down);
    let scale = plot_h / (up + down);
    let slot = (W - LEFT - RIGHT) / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" class=\"chart\">"
    );
    svg.push_str(&format!(
        "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\" stroke=\"#9aa5b1\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7785\">{up}</text>\
         <text x=\"{}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7785\">0</text>",
        W - RIGHT,
        LEFT - 4.0,
        TOP + 10.0,
        LEFT - 4.0,
        zero + 4.0,
    ));
    if down > 0.0 {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7785\">-{down}</text>",
            LEFT - 4.0,
            H - BOTTOM,
        ));
    }
    let mut net = Vec::with_capacity(days.len());
    for (i, (day, s)) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let new_h = f64::from(s.new_customers) * scale;
        let back_h = f64::from(s.returning) * scale;
        let del_h = f64::from(s.deletions) * scale;
        svg.push_str(&format!(
            "<g data-day=\"{}\" data-adds=\"{}\" data-deletions=\"{}\"><title>{}: +{} ({} / {}) −{}</title>",
            crate::fmt::date(*day),
            s.adds,
            s.deletions,
            month_day(*day),
            s.adds,
            s.new_customers,
            s.returning,
            s.deletions
        ));
        if new_h > 0.0 {
            svg.push_str(&rect(x, zero - new_h, bar, new_h, "#e4572e"));
        }
        if back_h > 0.0 {
            svg.push_str(&rect(x, zero - new_h - back_h, bar, back_h, "#f4a261"));
        }
        if del_h > 0.0 {
            svg.push_str(&rect(x, zero, bar, del_h, "#7b8794"));
        }
        svg.push_str("</g>");
        net.push(format!("{:.1},{:.1}", x + bar / 2.0, zero - s.net as f64 * scale));
        // Every 7th day counted back from the last, so the newest day is
        // labelled and no two labels crowd each other at the end.
        if (days.len() - 1 - i).is_multiple_of(7) {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#6b7785\">{}</text>",
                x + bar / 2.0,
                H - 6.0,
                month_day(*day)
            ));
        }
    }
    svg.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"#1d2733\" stroke-width=\"1.5\" class=\"net\"/></svg>",
        net.join(" ")
    ));
    svg
}

/// A series of a group chart: its value on a day, and how it is drawn.
pub struct Series<'a> {
    /// `data-` name and CSS class, e.g. `joins`.
    pub name: &'a str,
    pub value: fn(&DayMetrics) -> i64,
    pub color: &'a str,
    /// Bars below the axis (leaves) rather than above it.
    pub down: bool,
}

/// Group metrics by day: bar series above (joins, messages) and below
/// (leaves) the axis, and one line on a scale of its own (members,
/// speakers), labelled with its top value on the right. Each day is a
/// `<g>` carrying every value as `data-` attributes, which the tests read.
pub fn group_days(days: &[DayMetrics], bars: &[Series<'_>], line: &Series<'_>) -> String {
    let top = |down: bool| {
        let sums = days.iter().map(|d| bars.iter().filter(|s| s.down == down).map(|s| (s.value)(d)).sum::<i64>());
        sums.max().unwrap_or(0)
    };
    let (up, down) = (top(false).max(1) as f64, top(true) as f64);
    let plot_h = H - TOP - BOTTOM;
    let zero = TOP + plot_h * up / (up + down);
    let scale = plot_h / (up + down);
    let line_top = days.iter().map(|d| (line.value)(d)).max().unwrap_or(0).max(1) as f64;
    let slot = (W - LEFT - RIGHT - 28.0) / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" class=\"chart\">\
         <line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\" stroke=\"#9aa5b1\"/>\
         <text x=\"{lx}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7785\">{up}</text>\
         <text x=\"{x2}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"end\" fill=\"{lc}\">{line_top}</text>",
        x2 = W - RIGHT,
        lx = LEFT - 4.0,
        ty = TOP + 10.0,
        lc = line.color,
    );
    if down > 0.0 {
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7785\">-{down}</text>",
            LEFT - 4.0,
            H - BOTTOM,
        ));
    }
    let mut points = Vec::with_capacity(days.len());
    for (i, d) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let data: String =
            bars.iter().chain([line]).map(|s| format!(" data-{}=\"{}\"", s.name, (s.value)(d))).collect();
        svg.push_str(&format!("<g data-day=\"{}\"{data}><title>{}", d.date, d.date));
        bars.iter().chain([line]).for_each(|s| svg.push_str(&format!(" {}={}", s.name, (s.value)(d))));
        svg.push_str("</title>");
        let (mut above, mut below) = (zero, zero);
        for s in bars {
            let h = (s.value)(d) as f64 * scale;
            if h <= 0.0 {
                continue;
            }
            if s.down {
                svg.push_str(&rect(x, below, bar, h, s.color));
                below += h;
            } else {
                above -= h;
                svg.push_str(&rect(x, above, bar, h, s.color));
            }
        }
        svg.push_str("</g>");
        points.push(format!("{:.1},{:.1}", x + bar / 2.0, TOP + plot_h * (1.0 - (line.value)(d) as f64 / line_top)));
        if (days.len() - 1 - i).is_multiple_of(7) {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#6b7785\">{}</text>",
                x + bar / 2.0,
                H - 6.0,
                &d.date[5..]
            ));
        }
    }
    svg.push_str(&format!(
        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" class=\"{}\"/></svg>",
        points.join(" "),
        line.color,
        line.name
    ));
    svg
}

/// Joins above, leaves below, members as the line.
pub fn group_flow(days: &[DayMetrics]) -> String {
    let joins = Series { name: "joins", value: |d| d.joins, color: "#2a9d8f", down: false };
    let leaves = Series { name: "leaves", value: |d| d.leaves, color: "#7b8794", down: true };
    let members = Series { name: "members", value: |d| d.members, color: "#1d2733", down: false };
    group_days(days, &[joins, leaves], &members)
}

/// Messages as bars, speakers as the line.
pub fn group_talk(days: &[DayMetrics]) -> String {
    let messages = Series { name: "messages", value: |d| d.messages, color: "#f4a261", down: false };
    let speakers = Series { name: "speakers", value: |d| d.speakers, color: "#e4572e", down: false };
    group_days(days, &[messages], &speakers)
}

/// A campaign's invites by day (`(day start in ms, valid, pending,
/// rejected)`): valid, pending and rejected stacked. Each day is a `<g>`
/// carrying its counts as `data-` attributes, which the tests read.
pub fn campaign_invites(days: &[(i64, i64, i64, i64)]) -> String {
    let top = days.iter().map(|d| d.1 + d.2 + d.3).max().unwrap_or(0).max(1) as f64;
    let plot_h = H - TOP - BOTTOM;
    let zero = TOP + plot_h;
    let scale = plot_h / top;
    let slot = (W - LEFT - RIGHT) / days.len().max(1) as f64;
    let bar = (slot * 0.7).clamp(1.0, 48.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"100%\" role=\"img\" class=\"chart\">\
         <line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\" stroke=\"#9aa5b1\"/>\
         <text x=\"{lx}\" y=\"{ty}\" font-size=\"11\" text-anchor=\"end\" fill=\"#6b7785\">{top}</text>",
        x2 = W - RIGHT,
        lx = LEFT - 4.0,
        ty = TOP + 10.0,
    );
    for (i, &(ms, valid, pending, rejected)) in days.iter().enumerate() {
        // The day's 00:00 in Shanghai is a whole local day.
        let day = (ms.div_euclid(1000) + crate::fmt::DISPLAY_OFFSET_MINUTES * 60).div_euclid(86_400);
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        svg.push_str(&format!(
            "<g data-day=\"{}\" data-valid=\"{valid}\" data-pending=\"{pending}\" data-rejected=\"{rejected}\">\
             <title>{}: {valid} / {pending} / {rejected}</title>",
            crate::fmt::date(day),
            month_day(day),
        ));
        let mut above = zero;
        for (n, color) in [(valid, "#2a9d8f"), (pending, "#f4a261"), (rejected, "#7b8794")] {
            let h = n as f64 * scale;
            if h > 0.0 {
                above -= h;
                svg.push_str(&rect(x, above, bar, h, color));
            }
        }
        svg.push_str("</g>");
        if (days.len() - 1 - i).is_multiple_of(7) {
            svg.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#6b7785\">{}</text>",
                x + bar / 2.0,
                H - 6.0,
                month_day(day)
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

fn rect(x: f64, y: f64, w: f64, h: f64, fill: &str) -> String {
    format!("<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{fill}\"/>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bar_per_day_and_a_net_line() {
        let day = |adds, returning, deletions| CodeDayStats {
            adds,
            new_customers: adds - returning,
            returning,
            deletions,
            net: i64::from(adds) - i64::from(deletions),
            landing_visits: 0,
        };
        let svg = daily_adds(&[(19_782, day(3, 1, 0)), (19_783, CodeDayStats::default()), (19_784, day(0, 0, 2))]);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<g data-day").count(), 3);
        assert!(svg.contains("data-day=\"2024-02-29\" data-adds=\"3\""));
        assert_eq!(svg.matches("<rect").count(), 3, "new, returning, deletions");
        assert!(svg.contains("class=\"net\""));
    }

    fn gday(date: &str, members: i64, joins: i64, leaves: i64, messages: i64) -> DayMetrics {
        DayMetrics {
            date: date.into(),
            members,
            joins,
            leaves,
            net: joins - leaves,
            speakers: messages.min(2),
            messages,
            activity_rate: 0.0,
        }
    }

    #[test]
    fn group_days_draw_each_series() {
        let days = [gday("2026-03-01", 4, 2, 0, 4), gday("2026-03-02", 3, 0, 1, 1), gday("2026-03-03", 3, 0, 0, 0)];
        let svg = group_flow(&days);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<g data-day").count(), 3);
        assert!(svg.contains("data-day=\"2026-03-02\" data-joins=\"0\" data-leaves=\"1\" data-members=\"3\""));
        assert_eq!(svg.matches("<rect").count(), 2, "a join bar and a leave bar");
        assert!(svg.contains("class=\"members\""));
        let talk = group_talk(&days);
        assert!(talk.contains("data-messages=\"4\" data-speakers=\"2\"") && talk.contains("class=\"speakers\""));
        assert!(group_flow(&[]).ends_with("</svg>"), "no days draws an empty chart");
    }

    /// The x positions of the axis labels.
    fn label_xs(svg: &str) -> Vec<f64> {
        svg.split("<text x=\"")
            .skip(1)
            .filter(|t| t.contains("text-anchor=\"middle\""))
            .map(|t| t.split('"').next().expect("x").parse().expect("a number"))
            .collect()
    }

    #[test]
    fn axis_labels_never_crowd_and_the_last_day_is_labelled() {
        for n in [1usize, 2, 7, 8, 29, 30, 31, 60] {
            let days: Vec<(i64, CodeDayStats)> = (0..n as i64).map(|d| (19_700 + d, CodeDayStats::default())).collect();
            let svg = daily_adds(&days);
            let xs = label_xs(&svg);
            assert!(!xs.is_empty(), "{n} days");
            let last = month_day(19_700 + n as i64 - 1);
            assert!(svg.contains(&format!(">{last}</text>")), "{n} days: the newest day is labelled");
            // A label is 5 characters of 11 px text: about 35 px wide.
            for pair in xs.windows(2) {
                assert!(pair[1] - pair[0] >= 40.0, "{n} days: labels at {pair:?} overlap");
            }
        }
    }
}
