//! Every job kind koi runs, in one place: the worker looks a claimed job's
//! kind up here. Adding a kind is one name in the `registry!` list below.

use super::worker::Worker;
use super::{Job, JobError, SelfTest};
use crate::acquisition::{AddJob, RouteJob, WelcomeJob};
use crate::campaigns::{
    CampaignTickJob, CampaignWelcomeJob, CleanupJob, EntryJob, MigrationEntryJob, NoticeJob, RewardJob,
};
use crate::checkout::{CheckoutSweepJob, RefundJob};
use crate::coupons::{CouponIssueJob, CouponTickJob};
use crate::customers::{BulkJob, MarkJob, PullJob, SweepJob, TagSyncJob};
use crate::distribution::{DistributionTickJob, DistributorEntryJob, PayoutJob, ScheduledPayoutJob};
use crate::groups::{AlertJob, FeedJob, GroupCodeRotateJob, GroupFullSyncJob, GroupSyncJob, ReplyJob};
use crate::handover::{BatchJob, GroupsJob, LossAlertJob, LossSummaryJob, PollJob};
use crate::org::StaffSyncJob;
use crate::outreach::GuideTaskSettleJob;
use crate::outreach::{
    CancelTaskJob, GuideTaskJob, GuideTaskReadJob, MassSendChunkJob, MassSendRemindJob, MassSendStartJob,
    MomentPostJob, MomentReadJob,
};
use crate::sop::SopTickJob;
use koi_store::jobs::ClaimedJob;

/// Declares the kinds: their names ([`KINDS`]) and the dispatch ([`run`]).
macro_rules! registry {
    ($($job:ty),* $(,)?) => {
        /// The names of every registered kind.
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) const KINDS: &[&str] = &[$(<$job as Job>::KIND),*];

        /// Runs one claimed job through its kind's `prepare` and `record`.
        pub(super) async fn run(worker: &Worker, job: &ClaimedJob) -> Result<(), JobError> {
            $(
                if job.kind == <$job as Job>::KIND {
                    return worker.attempt::<$job>(job).await;
                }
            )*
            Err(JobError::GiveUp(format!("no handler for job kind {:?}", job.kind)))
        }
    };
}

registry![
    AddJob,
    WelcomeJob,
    RouteJob,
    TagSyncJob,
    MarkJob,
    PullJob,
    BulkJob,
    SweepJob,
    StaffSyncJob,
    GroupFullSyncJob,
    GroupSyncJob,
    GroupCodeRotateJob,
    FeedJob,
    ReplyJob,
    AlertJob,
    CampaignTickJob,
    EntryJob,
    CampaignWelcomeJob,
    RewardJob,
    NoticeJob,
    CleanupJob,
    MigrationEntryJob,
    CheckoutSweepJob,
    RefundJob,
    GuideTaskJob,
    GuideTaskReadJob,
    GuideTaskSettleJob,
    CouponIssueJob,
    CouponTickJob,
    MassSendStartJob,
    MassSendChunkJob,
    MassSendRemindJob,
    CancelTaskJob,
    SopTickJob,
    MomentPostJob,
    MomentReadJob,
    DistributionTickJob,
    DistributorEntryJob,
    PayoutJob,
    ScheduledPayoutJob,
    BatchJob,
    PollJob,
    GroupsJob,
    LossAlertJob,
    LossSummaryJob,
    SelfTest,
];

#[cfg(test)]
mod tests {
    use super::KINDS;
    use std::collections::HashSet;

    #[test]
    fn every_kind_has_its_own_name() {
        let names: HashSet<_> = KINDS.iter().collect();
        assert_eq!(names.len(), KINDS.len(), "two job kinds share a name: {KINDS:?}");
        assert!(KINDS.iter().all(|k| k.contains('.')), "kinds are area.verb");
    }
}
