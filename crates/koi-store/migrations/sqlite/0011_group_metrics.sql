-- Group metrics (members, joins, leaves, speakers, messages, conversion by
-- day) are computed when read: these covering indexes make the read a
-- range scan over what happened since the window's first day, never a
-- lookup per stay or message, nor a scan of every stay ever recorded.
-- Members at the end of a day are the present count (`groups.members`)
-- less the joins and plus the leaves after that day.
CREATE INDEX group_members_by_join ON group_members (corp_id, join_time, group_id, customer_id);
CREATE INDEX group_members_by_leave ON group_members (corp_id, left_at, group_id);
CREATE INDEX group_messages_by_corp_time ON group_messages (corp_id, sent_at, group_id, sender);
