-- Which detector raised a finding, about what.
SELECT detector, subject FROM findings WHERE fingerprint = ?
