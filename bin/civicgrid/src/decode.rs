//! Facts as JSON: a payload decoded by its `ce-type` from the descriptors civicgrid-proto embeds,
//! in the protobuf JSON mapping with the `.proto` field names (`tail`, `audit export`).

use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;

/// Decodes `payload` as the message named by `ce_type`, into the protobuf JSON mapping.
pub fn decode(ce_type: Option<&str>, payload: &[u8], pool: &DescriptorPool) -> Result<Value, String> {
    let ce_type = ce_type.ok_or("no ce-type header")?;
    let desc = pool.get_message_by_name(ce_type).ok_or_else(|| format!("unknown ce-type `{ce_type}`"))?;
    let message = DynamicMessage::decode(desc, payload).map_err(|e| format!("not a valid {ce_type}: {e}"))?;
    let options = SerializeOptions::new().use_proto_field_name(true);
    message.serialize_with_options(serde_json::value::Serializer, &options).map_err(|e| e.to_string())
}
