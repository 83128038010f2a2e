"""Key material on the host: the keys file (`file`: parse, check, create, write), the counter
record and locks that keep a GCM IV from ever repeating when a meter's state is lost or copied
(`ivguard`), and the scan of captured traffic that proves no IV was used twice (`ivscan`)."""
