//! eddy-reports
