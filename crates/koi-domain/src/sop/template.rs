//! Ready rules an operator enables with one click and then adjusts.
//!
//! "Periodic hot products" (周期爆品, Banchengyun's formula): from the
//! moment a customer connects, tell them the community has a fixed action
//! at a fixed time, then keep the appointment every week — a teaser the
//! evening before and the drop itself — so customers learn to expect it.

use super::{Audience, Hm, SopDraft, Step, StepAction, Trigger};

/// A template: its key, names and the rules it creates.
pub struct Template {
    pub key: &'static str,
    pub zh: &'static str,
    pub en: &'static str,
    pub rules: fn() -> Vec<SopDraft>,
}

pub const TEMPLATES: &[Template] =
    &[Template { key: "periodic_hot_products", zh: "周期爆品", en: "Periodic hot products", rules: hot_products }];

pub fn template(key: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.key == key)
}

fn hm(h: u8, m: u8) -> Option<Hm> {
    Hm::new(h, m)
}

fn task(title: &str) -> StepAction {
    StepAction::GuideTask { title: title.into(), script_id: None, material_id: None }
}

/// Three rules: the promise to new customers, the weekly teaser and the
/// weekly drop (Thursday 20:00 teaser, Friday 20:00 drop), each guide a
/// task per week. To send the drop as an automatic mass message instead,
/// pick a segment for the rule and switch its step to a mass message.
fn hot_products() -> Vec<SopDraft> {
    let all = Audience::Customers { tag_ids: vec![], segment_id: None };
    vec![
        SopDraft {
            name: "周期爆品·新客告知".into(),
            trigger: Trigger::AfterAdd,
            audience: all.clone(),
            steps: vec![
                Step { day: 0, at: None, action: task("告诉新客：每周五晚 8 点社群固定上爆品") },
                Step { day: 3, at: hm(19, 30), action: task("回访：邀请进店群，提醒周五爆品") },
            ],
        },
        SopDraft {
            name: "周期爆品·周四预告".into(),
            trigger: Trigger::Weekly { weekdays: vec![4] },
            audience: all.clone(),
            steps: vec![Step { day: 0, at: hm(20, 0), action: task("预告明晚爆品：发海报，收集意向") }],
        },
        SopDraft {
            name: "周期爆品·周五开抢".into(),
            trigger: Trigger::Weekly { weekdays: vec![5] },
            audience: all,
            steps: vec![Step {
                day: 0, at: hm(20, 0), action: task("开抢：把本周爆品发给客户，在群里发起接龙")
            }],
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid() {
        for t in TEMPLATES {
            for r in (t.rules)() {
                assert!(r.clone().validate().is_ok(), "{}: {}", t.key, r.name);
            }
        }
        assert!(template("periodic_hot_products").is_some());
        assert!(template("nope").is_none());
    }
}
