//! eddy-faults
