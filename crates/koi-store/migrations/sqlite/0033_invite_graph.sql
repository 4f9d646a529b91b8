-- The corp's invite graph across campaigns (dense invite cliques, risk
-- control): an add looks up every invite its inviter and its invitee took
-- part in, in any campaign, as either side.
CREATE INDEX campaign_participants_by_customer ON campaign_participants (corp_id, customer_id);
CREATE INDEX campaign_invites_by_invitee_customer ON campaign_invites (corp_id, invitee_customer_id);
