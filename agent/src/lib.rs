//! eddy-agent
