-- Guide tools: files uploaded to the material centre, and the WeCom media
-- made of them.

-- A material's file (image, PDF, video), kept in the database so every node
-- and both backends serve it the same way (a file is at most 20 MB; the
-- console's upload limit). The tracked link `/m/{token}` of a material with
-- a file serves these bytes. `sha256` (hex) says when WeCom's copy is stale.
CREATE TABLE material_files (
    material_id BIGINT PRIMARY KEY REFERENCES materials(id),
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    content_type TEXT NOT NULL,
    filename TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX material_files_by_corp ON material_files (corp_id);

-- A material's file uploaded to WeCom (`media/upload`): the temporary
-- media_id lives 3 days, so koi uploads again when `uploaded_at` is older
-- than its margin or the file changed (`sha256`). One row per material and
-- media type.
CREATE TABLE wecom_media (
    corp_id BIGINT NOT NULL REFERENCES corps(id),
    material_id BIGINT NOT NULL REFERENCES materials(id),
    media_type TEXT NOT NULL,
    media_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (corp_id, material_id, media_type)
);
