//! The delivery path's commands. `promote` moves an image tag from one
//! environment's Helm values to another's; `verify` checks the deployed
//! chain: the Argo CD Application, the portal's pods, and Kong's routes.
//!
//! Invariant: promote changes one line of one file and nothing else.

pub mod promote;
pub mod verify;
