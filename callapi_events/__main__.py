from callapi_events.cli import main

main()
