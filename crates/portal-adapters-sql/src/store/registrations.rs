//! The statements of `Registrations` (`shared/store/registrations.rs`); the
//! compare-and-set of a step is [`super::COMPARE_AND_SET_FLOW`].

/// A new registration flow: its values in `flow_columns!()` order.
pub const INSERT_FLOW: &str = concat!(
    "INSERT INTO registration_flows (",
    flow_columns!(),
    ") VALUES (",
    flow_values!(),
    ")"
);

/// A registration flow as the adapters' `rows::flow` reads it.
pub const FLOW_BY_ID: &str = "SELECT * FROM registration_flows WHERE id = $1";
