from examples.refund_agent.demo import main

raise SystemExit(main())
