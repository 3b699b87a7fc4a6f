package broken

decision := {"allow": allowed}

allowed if startswith(input.operation, "server.", "extra")
