import app; app.main()
