-- Mass sends to customer groups (群发到客户群), and settling guide tasks
-- whose outcome is unknown.
--
-- A guide task is to customers (`chat_type` single, its customers in
-- `guide_task_recipients`) or to the groups its sender owns (`group`, its
-- groups in `guide_task_groups`). Each group: planned → sent | not_sent |
-- failed, with WeCom's reason (`group_quota_used`: the corp's 4 a month to
-- a group; `group_gone`: dismissed or no longer the sender's).
--
-- A task that ended `unknown` is looked up in WeCom (`get_groupmsg_list_v2`):
-- found, it is adopted (`created` with the found msgid); surely not there,
-- it ends `absent`, which an operator may resend once (back to `queued`).
ALTER TABLE guide_tasks ADD COLUMN chat_type TEXT NOT NULL DEFAULT 'single';
ALTER TABLE guide_tasks ADD COLUMN looked_up_at BIGINT NOT NULL DEFAULT 0;

CREATE TABLE guide_task_groups (
    task_id BIGINT NOT NULL REFERENCES guide_tasks(id),
    group_id BIGINT NOT NULL REFERENCES groups(id),
    corp_id BIGINT NOT NULL,
    chat_id TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'planned',
    reason TEXT NOT NULL DEFAULT '',
    sent_at BIGINT,
    PRIMARY KEY (task_id, group_id)
);
CREATE INDEX guide_task_groups_by_group ON guide_task_groups (corp_id, group_id);
