package ecsgate.lib.maintenance_window_test

import data.ecsgate.authz
import data.ecsgate.lib.fixtures as f
import data.ecsgate.lib.maintenance_window

weekend_nights := {"time_zone": "Europe/Berlin", "windows": [{"days": ["Sat", "Sun"], "start": "02:00", "end": "06:00"}]}

rules := {"maintenance_window": weekend_nights}

lock := f.action("lock", f.token(["member"]))

at(ts) := time.parse_rfc3339_ns(ts)

# Berlin is UTC+2 in June: 2024-06-01 is a Saturday.
test_change_inside_window_allowed if {
	now := at("2024-06-01T01:30:00Z")
	authz.decision == {"allow": true, "reasons": []} with input as lock with time.now_ns as now with data.ecsgate.rules as rules
}

test_change_outside_window_denied if {
	now := at("2024-06-01T05:00:00Z")
	d := authz.decision with input as lock with time.now_ns as now with data.ecsgate.rules as rules
	d == {"allow": false, "reasons": [sprintf("server.action lock on server %s is outside the maintenance windows (Sat,Sun 02:00-06:00, Europe/Berlin); it is Saturday 07:00 there", [f.server_a])]}
}

test_reads_any_time if {
	now := at("2024-06-04T12:00:00Z")
	authz.decision.allow with input as f.read(f.token(["reader"])) with time.now_ns as now with data.ecsgate.rules as rules
}

test_admins_too if {
	now := at("2024-06-04T12:00:00Z")
	not authz.decision.allow with input as f.delete(f.token(["admin"])) with time.now_ns as now with data.ecsgate.rules as rules
}

test_window_edges if {
	# 02:00 is in, 06:00 is out (Berlin).
	open_at("2024-06-01T00:00:00Z", weekend_nights)
	not open_at("2024-06-01T04:00:00Z", weekend_nights)
	not open_at("2024-05-31T23:59:00Z", weekend_nights)
	open_at("2024-06-02T03:59:00Z", weekend_nights)
	not open_at("2024-06-03T01:00:00Z", weekend_nights)
}

test_window_past_midnight if {
	friday_night := {"time_zone": "UTC", "windows": [{"days": ["friday"], "start": "22:00", "end": "02:00"}]}
	open_at("2024-05-31T23:00:00Z", friday_night) # Friday 23:00
	open_at("2024-06-01T01:59:00Z", friday_night) # Saturday 01:59
	not open_at("2024-06-01T02:00:00Z", friday_night) # Saturday 02:00
	not open_at("2024-05-30T23:00:00Z", friday_night) # Thursday 23:00
	not open_at("2024-05-31T01:00:00Z", friday_night) # Friday 01:00
	not open_at("2024-06-01T23:00:00Z", friday_night) # Saturday 23:00
}

test_window_to_midnight_and_day_names if {
	weekdays := {"time_zone": "UTC", "windows": [
		{"days": ["MON", "Tuesday"], "start": "18:00", "end": "24:00"},
		{"days": ["wed"], "start": "00:00", "end": "24:00"},
	]}
	open_at("2024-06-03T23:59:00Z", weekdays) # Monday
	open_at("2024-06-04T18:00:00Z", weekdays) # Tuesday
	not open_at("2024-06-04T17:59:00Z", weekdays)
	open_at("2024-06-05T00:00:00Z", weekdays) # Wednesday
	open_at("2024-06-05T12:00:00Z", weekdays)
	not open_at("2024-06-06T00:00:00Z", weekdays) # Thursday
}

open_at(ts, settings) if {
	count(maintenance_window.violations) == 0 with input as lock
		with time.now_ns as at(ts)
		with data.ecsgate.rules as {"maintenance_window": settings}
}

test_bad_settings_deny_everything if {
	every bad in [
		true,
		{"windows": []},
		{"time_zone": "Mars/Olympus", "windows": weekend_nights.windows},
		{"windows": [{"days": ["Sat"], "start": "2:00", "end": "06:00"}]},
		{"windows": [{"days": ["Caturday"], "start": "02:00", "end": "06:00"}]},
		{"windows": [{"days": "Sat", "start": "02:00", "end": "06:00"}]},
		{"windows": [{"days": ["Sat"], "start": "06:00", "end": "06:00"}]},
		{"windows": [{"days": ["Sat"], "start": "24:00", "end": "06:00"}]},
	] {
		d := authz.decision with input as f.read(f.token(["admin"]))
			with time.now_ns as at("2024-06-01T01:30:00Z")
			with data.ecsgate.rules as {"maintenance_window": bad}
		not d.allow
		count(d.reasons) == 1
		startswith(d.reasons[0], "library rule maintenance_window:")
	}
}
