# METADATA
# title: Changes only in maintenance windows
# description: |
#   Enable under data.ecsgate.rules with, for example,
#   `maintenance_window: {time_zone: Europe/Berlin, windows: [{days: [Sat, Sun], start: "02:00", end: "06:00"}]}`.
#   A change (anything but a read) outside every window is denied; reads
#   are not affected. A window is days (Mon or Monday, any case), start and
#   end (HH:MM, end may be 24:00) in time_zone (an IANA name, default UTC).
#   A window whose end is before its start runs past midnight into the next
#   day: {days: [Fri], start: "22:00", end: "02:00"} is Friday 22:00 to
#   Saturday 02:00.
package ecsgate.lib.maintenance_window

import data.ecsgate.authz

settings := object.union({"time_zone": "UTC", "windows": []}, configured)

# `maintenance_window: true` means the defaults, which have no window: every
# change is then denied, with the reason below.
default configured := {}

configured := data.ecsgate.rules.maintenance_window if is_object(data.ecsgate.rules.maintenance_window)

violations contains msg if {
	authz.authenticated
	authz.is_mutation
	valid_settings
	not in_a_window
	msg := sprintf("%s%s is outside the maintenance windows (%s, %s); it is %s there", [
		authz.subject, authz.target_text,
		concat("; ", [describe(w) | some w in settings.windows]), settings.time_zone,
		local_now,
	])
}

# --- the clock ---------------------------------------------------------------

now := time.now_ns()

clock := time.clock([now, settings.time_zone])

minute_of_day := (clock[0] * 60) + clock[1]

today := day_number(time.weekday([now, settings.time_zone]))

yesterday := (today + 6) % 7

local_now := sprintf("%s %02d:%02d", [time.weekday([now, settings.time_zone]), clock[0], clock[1]])

# --- windows -----------------------------------------------------------------

in_a_window if {
	some w in settings.windows
	open(w)
}

open(w) if {
	start(w) < end(w)
	today in window_days(w)
	minute_of_day >= start(w)
	minute_of_day < end(w)
}

# Past midnight: the evening of a listed day and the morning after it.
open(w) if {
	start(w) > end(w)
	today in window_days(w)
	minute_of_day >= start(w)
}

open(w) if {
	start(w) > end(w)
	yesterday in window_days(w)
	minute_of_day < end(w)
}

start(w) := minutes(w.start)

end(w) := minutes(w.end)

window_days(w) := {day_number(d) | some d in w.days}

describe(w) := sprintf("%s %s-%s", [concat(",", w.days), w.start, w.end])

week := [
	{"mon", "monday"}, {"tue", "tuesday"}, {"wed", "wednesday"}, {"thu", "thursday"},
	{"fri", "friday"}, {"sat", "saturday"}, {"sun", "sunday"},
]

day_number(name) := i if {
	some i, names in week
	lower(name) in names
}

minutes(hhmm) := (to_number(parts[0]) * 60) + to_number(parts[1]) if {
	regex.match(`^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$`, hhmm)
	parts := split(hhmm, ":")
}

# --- settings ----------------------------------------------------------------

# A window that cannot be read would never be open, a zone the gateway cannot
# load would leave the clock undefined and the rule above silent: settings
# of the wrong shape deny every request instead, and say why.
violations contains msg if {
	not valid_settings
	msg := sprintf("library rule maintenance_window: time_zone must be a time zone the gateway knows and windows a non-empty list of {days: [Mon..Sun], start: HH:MM, end: HH:MM}, start != end (have %v)", [configured])
}

valid_settings if {
	is_string(settings.time_zone)
	clock
	is_array(settings.windows)
	count(settings.windows) > 0
	every w in settings.windows {
		valid_window(w)
	}
}

valid_window(w) if {
	is_array(w.days)
	count(w.days) > 0
	every d in w.days {
		is_string(d)
		day_number(d)
	}
	start(w) != end(w)
	start(w) < 1440
}
