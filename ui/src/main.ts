import { mount } from "svelte";
import App from "./App.svelte";
import "./app.css";
import { applyTheme, savedTheme } from "./lib/theme";

applyTheme(savedTheme());

mount(App, { target: document.getElementById("app")! });
