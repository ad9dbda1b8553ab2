//! ApiVersions (key 18) request layout, versions 0–4 (flexible from 3).

use crate::guard::schema::{since, Kind::*, MessageSchema, StructSchema};

pub static API_VERSIONS: MessageSchema = MessageSchema {
    api_key: 18,
    name: "ApiVersions",
    min_version: 0,
    max_version: 4,
    flexible_from: 3,
    body: &StructSchema {
        name: "ApiVersionsRequest",
        fields: &[
            since(3, String), // client_software_name
            since(3, String), // client_software_version
        ],
        tagged: &[],
    },
};
