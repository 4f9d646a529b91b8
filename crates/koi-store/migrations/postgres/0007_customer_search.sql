-- What the guide noted about a customer in WeCom (`externalcontact/get`
-- follow_info): the remark and the phones (comma-separated), kept per
-- follow so the console can show them and find a customer by them.
ALTER TABLE follows ADD COLUMN remark TEXT NOT NULL DEFAULT '';
ALTER TABLE follows ADD COLUMN remark_mobiles TEXT NOT NULL DEFAULT '';
