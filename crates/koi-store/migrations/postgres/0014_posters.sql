-- Poster templates (海报模板): an uploaded background (or none: the
-- layout's colour) and the layout of the personal layers (JSON). `version`
-- moves with every edit, so renders cached by content hash under the old
-- version are never served for the new one.
CREATE TABLE poster_templates (
    id BIGSERIAL PRIMARY KEY,
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    name TEXT NOT NULL,
    background BYTEA,
    background_type TEXT NOT NULL DEFAULT '',
    layout TEXT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX poster_templates_by_corp ON poster_templates (corp_id, id);
