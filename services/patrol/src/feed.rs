//! The positions feed's handler: decodes a batch of `PositionFix` messages and hands them to
//! the engine's ingest as one batch. A message that does not decode (or says it carries
//! something else) is poison: the kit dead-letters it with the reason.

use std::sync::Arc;

use civicgrid_kit::bus::{FeedHandler, HandleError, Incoming, Poison, inbox::BoxFuture};
use civicgrid_proto::v1::PositionFix;
use prost::Message;

use crate::engine::Engine;

/// Applies the feed `CIVICGRID_PATROL_POSITIONS`.
pub struct PositionsFeed {
    /// The engine that takes the fixes.
    pub engine: Arc<Engine>,
}

/// The fix a message carries, or why it is poison.
fn decode(m: &Incoming) -> Result<PositionFix, String> {
    if let Some(t) = m.ce_type()
        && !m.carries::<PositionFix>()
    {
        return Err(format!("ce-type `{t}` is not civicgrid.v1.PositionFix"));
    }
    PositionFix::decode(m.payload.clone()).map_err(|e| format!("undecodable civicgrid.v1.PositionFix: {e}"))
}

impl FeedHandler for PositionsFeed {
    fn apply<'a>(&'a self, msgs: &'a [Incoming]) -> BoxFuture<'a, Result<Vec<Poison>, HandleError>> {
        Box::pin(async move {
            let mut fixes = Vec::with_capacity(msgs.len());
            let mut poison = Vec::new();
            for (index, m) in msgs.iter().enumerate() {
                match decode(m) {
                    Ok(f) => fixes.push(f),
                    Err(reason) => poison.push(Poison { index, reason }),
                }
            }
            if !fixes.is_empty() {
                self.engine.ingest(&fixes).await?;
            }
            if !poison.is_empty() {
                self.engine.core().metrics.rejected("malformed", poison.len() as u64);
            }
            Ok(poison)
        })
    }
}
